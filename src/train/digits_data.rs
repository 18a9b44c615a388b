//! The 8×8 handwritten digits (UCI ML optical recognition of handwritten digits, the test set
//! as shipped with scikit-learn: 1,797 images, pixels 0–16, labels 0–9; CC BY 4.0), for the
//! `digits` training task ([`super::task::digits`]) and the `afge-classification` experiment.
//! The file `assets/data/digits.csv` is compiled in, so nothing is read or downloaded at run
//! time; a test checks its SHA-256 against the one in `assets/data/README.md`.

/// The shipped file.
pub const CSV: &str = include_str!("../../assets/data/digits.csv");
/// SHA-256 of [`CSV`] (also in `assets/data/README.md`).
pub const SHA256: &str = "d7ff1341011182b7af3733b201a919cea2ffe00f25ff23ba48c5e791daffb498";
/// Pixels per image (8×8).
pub const PIXELS: usize = 64;
pub const CLASSES: usize = 10;

/// The data set: `images[i]` holds 64 pixel values in 0..=16 (row-major), `labels[i]` its digit.
#[derive(Clone, Debug, PartialEq)]
pub struct Digits {
    pub images: Vec<[u8; PIXELS]>,
    pub labels: Vec<u8>,
}

impl Digits {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Images per class.
    pub fn class_counts(&self) -> [usize; CLASSES] {
        let mut c = [0; CLASSES];
        for &l in &self.labels {
            c[l as usize] += 1;
        }
        c
    }
}

/// Parses the shipped data set.
pub fn load() -> Result<Digits, String> {
    parse(CSV)
}

/// Parses `64 pixel columns + label` CSV text with a header line.
pub fn parse(text: &str) -> Result<Digits, String> {
    let mut lines = text.lines();
    let header = lines.next().ok_or("the digits file is empty")?;
    if header.split(',').count() != PIXELS + 1 {
        return Err(format!(
            "the digits header has {} columns, expected 65",
            header.split(',').count()
        ));
    }
    let mut out = Digits {
        images: Vec::new(),
        labels: Vec::new(),
    };
    for (k, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let row = k + 2;
        let values: Vec<u8> = line
            .split(',')
            .map(|v| v.trim().parse::<u8>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("digits line {row}: {e}"))?;
        if values.len() != PIXELS + 1 {
            return Err(format!(
                "digits line {row}: {} values, expected 65",
                values.len()
            ));
        }
        let mut image = [0u8; PIXELS];
        image.copy_from_slice(&values[..PIXELS]);
        if image.iter().any(|p| *p > 16) {
            return Err(format!("digits line {row}: a pixel is above 16"));
        }
        let label = values[PIXELS];
        if label as usize >= CLASSES {
            return Err(format!("digits line {row}: label {label} is not a digit"));
        }
        out.images.push(image);
        out.labels.push(label);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_has_the_published_checksum() {
        use sha2::{Digest, Sha256};
        let sum: String = Sha256::digest(CSV.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sum, SHA256);
        let readme = include_str!("../../assets/data/README.md");
        assert!(
            readme.contains(SHA256),
            "the README names the same checksum"
        );
    }

    #[test]
    fn the_shipped_set_has_its_shape_and_class_counts() {
        let d = load().expect("the shipped digits load");
        assert_eq!(d.len(), 1797);
        assert_eq!(d.images[0].len(), PIXELS);
        // Counts per class as scikit-learn's load_digits() reports them.
        assert_eq!(
            d.class_counts(),
            [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
        );
        assert_eq!(d.images.iter().flatten().copied().max(), Some(16));
        // The first image is a 0 (scikit-learn's digits.images[0]).
        assert_eq!(d.labels[0], 0);
        assert_eq!(&d.images[0][..8], &[0, 0, 5, 13, 9, 1, 0, 0]);
    }

    #[test]
    fn a_bad_row_is_refused_with_its_line() {
        let header = (0..64)
            .map(|i| format!("p{i}"))
            .collect::<Vec<_>>()
            .join(",")
            + ",label";
        let row = vec!["0"; 64].join(",") + ",11";
        let err = parse(&format!("{header}\n{row}\n")).unwrap_err();
        assert!(err.contains("line 2"), "{err}");
    }
}
