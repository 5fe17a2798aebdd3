//! The personal-data guard (DOMAIN.md, "Personal data"; Riktlinje 8.6: reports "avser inte
//! avvikelser som rör enskilda individer"): a free text holding a Swedish personal identity number
//! (personnummer) or coordination number (samordningsnummer) is refused, because the log is
//! append-only and could never forget it.
//!
//! Recognised forms: `YYMMDD-NNNN`, `YYMMDD+NNNN` (100 years or older), `YYMMDDNNNN`,
//! `YYYYMMDDNNNN` and `YYYYMMDD-NNNN`, not part of a longer run of digits, with a valid month, a day
//! of 01–31 (or 61–91 for a coordination number, the day plus 60) and a valid check digit (the Luhn
//! algorithm over the ten digits `YYMMDDNNN` + check).

/// The first personal or coordination number in `text`, as written there.
pub fn find_personal_number(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        if !bytes[start].is_ascii_digit() || (start > 0 && bytes[start - 1].is_ascii_digit()) {
            start += 1;
            continue;
        }
        // A run of digits with at most one `-` or `+` after its sixth or eighth digit.
        for len in [13, 12, 11, 10] {
            let Some(candidate) = text.get(start..start + len) else { continue };
            let followed_by_digit = bytes.get(start + len).is_some_and(u8::is_ascii_digit);
            if !followed_by_digit && is_personal_number(candidate) {
                return Some(candidate);
            }
        }
        start += 1;
    }
    None
}

/// Whether `s` is exactly one personal or coordination number in a recognised form.
fn is_personal_number(s: &str) -> bool {
    let b = s.as_bytes();
    let digits: Vec<u8> = match b.len() {
        // YYMMDDNNNN
        10 if b.iter().all(u8::is_ascii_digit) => b.to_vec(),
        // YYMMDD-NNNN or YYMMDD+NNNN
        11 if (b[6] == b'-' || b[6] == b'+') && b[..6].iter().chain(&b[7..]).all(u8::is_ascii_digit) => {
            b[..6].iter().chain(&b[7..]).copied().collect()
        }
        // YYYYMMDDNNNN: the century is dropped for the check
        12 if b.iter().all(u8::is_ascii_digit) => b[2..].to_vec(),
        // YYYYMMDD-NNNN
        13 if b[8] == b'-' && b[..8].iter().chain(&b[9..]).all(u8::is_ascii_digit) => {
            b[2..8].iter().chain(&b[9..]).copied().collect()
        }
        _ => return false,
    };
    let n: Vec<u32> = digits.iter().map(|d| u32::from(d - b'0')).collect();
    let month = n[2] * 10 + n[3];
    let day = n[4] * 10 + n[5];
    let day_ok = (1..=31).contains(&day) || (61..=91).contains(&day);
    (1..=12).contains(&month) && day_ok && luhn(&n)
}

/// The Luhn check over ten digits: doubling every other digit from the first.
fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                let x = d * 2;
                x / 10 + x % 10
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::find_personal_number;

    #[test]
    fn personal_data_guard_recognises_every_form_with_a_valid_check_digit() {
        // 19400101-1234 is not valid (check digit); 19121212-1212 is the Tax Agency's example.
        for text in [
            "patient 121212-1212 har",
            "121212+1212",
            "1212121212",
            "personnummer 191212121212.",
            "19121212-1212",
            "samordningsnummer 701063-2391",
        ] {
            assert!(find_personal_number(text).is_some(), "{text}");
        }
    }

    #[test]
    fn personal_data_guard_leaves_dates_references_and_wrong_check_digits_alone() {
        for text in [
            "patient NN 19400101-1234", // check digit wrong
            "KS 2021/1272",
            "Dnr 2022-06-13 § 93",
            "307 MSEK, 4 %",
            "121212-1213",    // check digit wrong
            "12121212121212", // a longer run of digits is not a personal number
            "121312-1212",    // month 13
            "tel 08-123 456 78",
            "",
        ] {
            assert_eq!(find_personal_number(text), None, "{text}");
        }
    }
}
