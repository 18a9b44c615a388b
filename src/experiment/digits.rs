//! The 8×8 handwritten digits (UCI ML optical recognition of handwritten digits, the test set
//! as shipped with scikit-learn: 1,797 images, pixels 0–16, labels 0–9; CC BY 4.0), for the
//! `afge-classification` experiment. The file `assets/data/digits.csv` is compiled in, so
//! nothing is read or downloaded at run time; its SHA-256 is checked when it is parsed.

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

/// Parses the shipped data set, after checking its checksum.
pub fn load() -> Result<Digits, String> {
    let sum = sha256_hex(CSV.as_bytes());
    if sum != SHA256 {
        return Err(format!(
            "assets/data/digits.csv has SHA-256 {sum}, expected {SHA256}"
        ));
    }
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

/// SHA-256 (FIPS 180-4) of `data`, as lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                block[4 * i],
                block[4 * i + 1],
                block[4 * i + 2],
                block[4 * i + 3],
            ]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, v) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(v);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_fips_test_vectors() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
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
