//! Fuzzing the verifier: random tokens never panic; any one-character change of a valid token fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use base64::Engine;
use proptest::prelude::*;

use super::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings_as_tokens_never_panic(s in ".{0,600}") {
        let _ = kit_verifier().verify(Some(&s), NOW);
    }

    #[test]
    fn dotted_base64ish_tokens_never_panic(parts in prop::collection::vec("[A-Za-z0-9_=+/-]{0,80}", 0..5)) {
        let _ = kit_verifier().verify(Some(&parts.join(".")), NOW);
    }

    #[test]
    fn json_segments_never_panic(h in any::<String>(), p in any::<String>()) {
        let token = format!("{}.{}.{}", B64.encode(h), B64.encode(p), B64.encode([0u8; 64]));
        let _ = kit_verifier().verify(Some(&token), NOW);
    }

    #[test]
    fn any_one_character_change_of_a_valid_token_fails(i in 0usize..1000, c in "[A-Za-z0-9_.=-]") {
        let token = rs256(&claims());
        let i = i % token.len();
        let mut changed = token.clone();
        changed.replace_range(i..=i, &c);
        prop_assume!(changed != token);
        prop_assert!(kit_verifier().verify(Some(&changed), NOW).is_err());
    }
}
