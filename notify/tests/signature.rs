//! Standard Webhooks signatures against the specification's published test vectors (the
//! reference libraries' `sign` tests) and their negative cases.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use routeq_notify::signature::{
    DEFAULT_TOLERANCE, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, sign, signature_header,
    verify, verify_parts,
};
use routeq_notify::{Secret, VerifyError};

// Vector A: the go/js/python/php/ruby/c# libraries' sign test.
const A_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const A_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const A_TS: i64 = 1614265330;
const A_BODY: &[u8] = br#"{"test": 2432232314}"#;
const A_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
// Vector B: the rust library's test_sign.
const B_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const B_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const B_TS: i64 = 1649367553;
const B_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
const B_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
// The libraries' "wrong signature" (valid base64 of 32 bytes, matches nothing).
const WRONG: &str = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";

fn secret(s: &str) -> Secret {
    Secret::parse(s).unwrap()
}

fn headers(id: &str, ts: &str, sig: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(HEADER_ID, HeaderValue::from_str(id).unwrap());
    h.insert(HEADER_TIMESTAMP, HeaderValue::from_str(ts).unwrap());
    h.insert(HEADER_SIGNATURE, HeaderValue::from_str(sig).unwrap());
    h
}

fn check_a(sig: &str) -> Result<(), VerifyError> {
    let h = headers(A_ID, &A_TS.to_string(), sig);
    verify(&[secret(A_SECRET)], &h, A_BODY, A_TS, DEFAULT_TOLERANCE)
}

#[test]
fn signs_the_published_vectors_exactly() {
    assert_eq!(sign(&secret(A_SECRET), A_ID, A_TS, A_BODY), A_SIG);
    assert_eq!(sign(&secret(B_SECRET), B_ID, B_TS, B_BODY), B_SIG);
    // The prefix is optional, as in the reference libraries.
    let bare = A_SECRET.strip_prefix("whsec_").unwrap();
    assert_eq!(sign(&secret(bare), A_ID, A_TS, A_BODY), A_SIG);
}

#[test]
fn verifies_the_published_vectors() {
    assert_eq!(check_a(A_SIG), Ok(()));
    let h = headers(B_ID, &B_TS.to_string(), B_SIG);
    assert_eq!(
        verify(&[secret(B_SECRET)], &h, B_BODY, B_TS, DEFAULT_TOLERANCE),
        Ok(())
    );
}

#[test]
fn negative_vectors_of_the_libraries() {
    // The last character changed.
    assert_eq!(
        check_a("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="),
        Err(VerifyError::NoMatch)
    );
    assert_eq!(check_a(WRONG), Err(VerifyError::NoMatch));
    assert_eq!(check_a("v1,"), Err(VerifyError::NoMatch));
    assert_eq!(check_a(""), Err(VerifyError::NoMatch));
    assert_eq!(
        check_a("g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        Err(VerifyError::NoMatch)
    );
    // The version must be v1: the same bytes under v2 (or v1a) are skipped.
    assert_eq!(
        check_a(&A_SIG.replace("v1,", "v2,")),
        Err(VerifyError::NoMatch)
    );
    // Several entries: valid when any v1 entry matches (the multi-signature test).
    let many = format!("{WRONG} {} {A_SIG} {WRONG}", WRONG.replace("v1,", "v2,"));
    assert_eq!(check_a(&many), Ok(()));
}

#[test]
fn timestamps_outside_the_tolerance_or_malformed_fail() {
    let s = [secret(A_SECRET)];
    let at = |ts: i64| sign(&s[0], A_ID, ts, A_BODY);
    let now = A_TS;
    for (ts, ok) in [
        (now - 300, true),
        (now + 300, true),
        (now - 301, false),
        (now + 301, false),
    ] {
        let h = headers(A_ID, &ts.to_string(), &at(ts));
        let got = verify(&s, &h, A_BODY, now, DEFAULT_TOLERANCE);
        assert_eq!(got.is_ok(), ok, "ts = now{:+}: {got:?}", ts - now);
    }
    let old = headers(A_ID, &(now - 301).to_string(), &at(now - 301));
    assert_eq!(
        verify(&s, &old, A_BODY, now, DEFAULT_TOLERANCE),
        Err(VerifyError::OutsideTolerance { skew_s: 301 })
    );
    // A caller's tolerance is honoured.
    let minute_old = headers(A_ID, &(now - 60).to_string(), &at(now - 60));
    assert!(verify(&s, &minute_old, A_BODY, now, Duration::from_secs(30)).is_err());
    let hello = headers(A_ID, "hello", A_SIG);
    assert_eq!(
        verify(&s, &hello, A_BODY, now, DEFAULT_TOLERANCE),
        Err(VerifyError::InvalidTimestamp)
    );
}

#[test]
fn missing_headers_fail() {
    let full = headers(A_ID, &A_TS.to_string(), A_SIG);
    for name in [HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE] {
        let mut h = full.clone();
        h.remove(name);
        let got = verify(&[secret(A_SECRET)], &h, A_BODY, A_TS, DEFAULT_TOLERANCE);
        assert_eq!(got, Err(VerifyError::MissingHeader(name)));
    }
    assert_eq!(
        verify(&[], &full, A_BODY, A_TS, DEFAULT_TOLERANCE),
        Err(VerifyError::NoSecret)
    );
}

#[test]
fn wrong_secret_tampered_body_or_id_fail() {
    let other = Secret::generate().unwrap();
    let h = headers(A_ID, &A_TS.to_string(), A_SIG);
    assert_eq!(
        verify(&[other], &h, A_BODY, A_TS, DEFAULT_TOLERANCE),
        Err(VerifyError::NoMatch)
    );
    let tampered = br#"{"test": 2432232315}"#;
    assert_eq!(
        verify(&[secret(A_SECRET)], &h, tampered, A_TS, DEFAULT_TOLERANCE),
        Err(VerifyError::NoMatch)
    );
    let ts = A_TS.to_string();
    let other_id = verify_parts(
        &[secret(A_SECRET)],
        "msg_other",
        &ts,
        A_SIG,
        A_BODY,
        A_TS,
        DEFAULT_TOLERANCE,
    );
    assert_eq!(other_id, Err(VerifyError::NoMatch));
    // The timestamp is signed too: replaying the signature under a fresh timestamp fails.
    let fresh = (A_TS + 10).to_string();
    let replay = verify_parts(
        &[secret(A_SECRET)],
        A_ID,
        &fresh,
        A_SIG,
        A_BODY,
        A_TS + 10,
        DEFAULT_TOLERANCE,
    );
    assert_eq!(replay, Err(VerifyError::NoMatch));
}

#[test]
fn rotation_old_and_new_both_sign_during_the_overlap() {
    let (old, new) = (secret(A_SECRET), Secret::generate().unwrap());
    let header = signature_header(&[new.clone(), old.clone()], A_ID, A_TS, A_BODY);
    let parts: Vec<&str> = header.split(' ').collect();
    assert_eq!(parts.len(), 2);
    assert_eq!(
        parts[1], A_SIG,
        "the old secret's signature is the published one"
    );
    let h = headers(A_ID, &A_TS.to_string(), &header);
    // A receiver that has not switched yet, one that has, and one that holds both.
    for receiver in [
        vec![old.clone()],
        vec![new.clone()],
        vec![old.clone(), new.clone()],
    ] {
        assert_eq!(
            verify(&receiver, &h, A_BODY, A_TS, DEFAULT_TOLERANCE),
            Ok(())
        );
    }
    // After the overlap only the new secret signs: a receiver still on the old one fails.
    let after = headers(
        A_ID,
        &A_TS.to_string(),
        &signature_header(&[new], A_ID, A_TS, A_BODY),
    );
    assert_eq!(
        verify(&[old], &after, A_BODY, A_TS, DEFAULT_TOLERANCE),
        Err(VerifyError::NoMatch)
    );
}
