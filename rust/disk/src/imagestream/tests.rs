use super::*;
use crate::gpt::Gpt;
use crate::imagewrite::tests::{expected, image, old_disk, read_all, MIB};

fn compressed(img: &[u8]) -> Vec<u8> {
    zstd::encode_all(img, 3).unwrap()
}

#[test]
fn a_compressed_image_is_written_checked_and_committed() {
    let img = image(512);
    let z = compressed(&img);
    let disk = old_disk(12 * MIB);
    let blob = Blob {
        reader: z.as_slice(),
        sha256: Some(hex(&Sha256::digest(&z))),
        image: expected(&img),
    };
    let mut last = 0;
    let (staged, stats) = write_zstd_image(&disk, blob, &mut |p| last = p).unwrap();
    assert_eq!(last, img.len() as u64);
    assert_eq!(stats.compressed, z.len() as u64);
    assert_eq!(
        stats.written + stats.zeroed,
        6 * MIB,
        "the body between the tables"
    );
    assert!(Gpt::read(&disk, 12 * MIB).is_err(), "tables are held back");
    staged.commit(&disk).unwrap();
    assert_eq!(&read_all(&disk)[..img.len()], img.as_slice());
}

#[test]
fn a_blob_that_is_not_its_content_address_is_refused() {
    let img = image(512);
    let z = compressed(&img);
    let disk = old_disk(12 * MIB);
    let blob = Blob {
        reader: z.as_slice(),
        sha256: Some("00".repeat(32)),
        image: expected(&img),
    };
    let err = write_zstd_image(&disk, blob, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("compressed image"), "{err}");
    assert!(Gpt::read(&disk, 12 * MIB).is_err(), "no valid GPT left");
}

#[test]
fn a_stream_that_is_not_zstd_is_refused() {
    let img = image(512);
    let disk = old_disk(12 * MIB);
    let blob = Blob {
        reader: img.as_slice(),
        sha256: None,
        image: expected(&img),
    };
    let err = write_zstd_image(&disk, blob, &mut |_| {}).unwrap_err();
    assert!(
        err.to_string().contains("reading the image stream"),
        "{err}"
    );
    assert!(Gpt::read(&disk, 12 * MIB).is_err(), "no valid GPT left");
}
