//! Every script assembles, names nothing by hand, and its replies decode.

use super::*;

#[test]
fn every_script_assembles() {
    for (name, src) in SOURCES {
        let out = assemble(src).unwrap_or_else(|e| panic!("{name}: {e}"));
        for marker in ["F.", "C.", "S.", "R.", "--@include"] {
            let left = out.lines().any(|l| {
                let code = l.split("--").next().unwrap_or_default();
                marker == "--@include" && l.trim_start().starts_with(marker)
                    || code.match_indices(marker).any(|(i, _)| {
                        i == 0
                            || !code.as_bytes()[i - 1].is_ascii_alphanumeric()
                                && code.as_bytes()[i - 1] != b'_'
                    })
            });
            assert!(!left, "{name}: {marker} left after assembly");
        }
    }
    scripts();
}

#[test]
fn an_unknown_name_fails_the_assembly() {
    assert!(assemble("return F.nope").is_err());
    assert!(assemble("return C.JOB_QUEUD").is_err());
    assert!(assemble("return S.runing").is_err());
    assert!(assemble("--@include nothing").is_err());
    assert_eq!(
        assemble("return S.queued").as_deref(),
        Ok("return 'queued'\n")
    );
    // Other uppercase identifiers are left alone.
    assert_eq!(assemble("X.y = KEYS.z").as_deref(), Ok("X.y = KEYS.z\n"));
}

/// The sources name codes, states and fields only through the tables: no quoted literal in
/// Lua code may look like a code, a state or a field.
#[test]
fn no_code_state_or_field_is_spelled_by_hand_in_lua() {
    let forbidden: Vec<String> = Code::ALL
        .iter()
        .map(|c| c.as_str().to_string())
        .chain(
            [
                JobState::Queued,
                JobState::Running,
                JobState::Succeeded,
                JobState::Fallback,
                JobState::Failed,
                JobState::Expired,
                JobState::Cancelled,
            ]
            .iter()
            .map(|s| s.as_str().to_string()),
        )
        .chain(FIELDS.iter().map(|(_, w)| (*w).to_string()))
        .chain([
            record::event::ACCEPTED.into(),
            record::event::FINISHED.into(),
        ])
        .collect();
    let sources = SOURCES.iter().chain(LIBRARY.iter());
    for (name, src) in sources {
        for (n, line) in src.lines().enumerate() {
            let code = line.split("--").next().unwrap_or_default();
            for word in &forbidden {
                for quote in ['\'', '"'] {
                    let lit = format!("{quote}{word}{quote}");
                    assert!(
                        !code.contains(&lit),
                        "{name}.lua:{}: {lit} is spelled by hand; use the table name",
                        n + 1
                    );
                }
            }
        }
    }
}

#[test]
fn replies_decode_and_unknown_ones_are_errors() {
    assert_eq!(
        Submitted::decode((-3, "7".into())),
        Ok(Submitted::TenantFull(7))
    );
    assert!(Submitted::decode((-9, String::new())).is_err());
    assert!(Submitted::decode((-2, "x".into())).is_err());
    {
        use ::redis::Value;
        let text = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let running = Value::Array(vec![
            Value::Int(2),
            text("rid-1"),
            text("10"),
            Value::Int(20),
            text("{}"),
            text(""),
        ]);
        let expired = Value::Array(vec![Value::Int(-2), text("rid-2")]);
        let batch = Started::decode_batch(
            vec![
                running,
                Value::Int(0),
                Value::Int(-1),
                expired,
                Value::Int(99),
            ],
            4,
        )
        .expect("a batch");
        assert_eq!(
            batch.statuses,
            [
                Started::Running(2),
                Started::AlreadyEnded,
                Started::Gone,
                Started::Expired
            ]
        );
        assert_eq!(batch.now_ms, 99);
        assert_eq!(
            batch.jobs[0],
            Some(JobStart {
                request_id: "rid-1".into(),
                submitted_ms: 10,
                deadline_ms: 20,
                request: "{}".into(),
                trace: String::new(),
            })
        );
        assert_eq!(batch.request_ids[3], "rid-2");
        assert!(batch.jobs[1..].iter().all(Option::is_none));
        // A count that does not match, a bare running count, an unknown code: errors.
        assert!(Started::decode_batch(vec![Value::Int(1)], 2).is_err());
        assert!(Started::decode_batch(vec![Value::Int(1), Value::Int(5)], 1).is_err());
        assert!(Started::decode_batch(vec![Value::Int(-7), Value::Int(5)], 1).is_err());
    }
    assert!(Completed::decode(vec![7], 1).is_err());
    assert_eq!(
        Cancelled::decode((0, "running".into())),
        Ok(Cancelled::NotCancellable(JobState::Running))
    );
    assert_eq!(Purged::decode(0), Ok(Purged::Deleted));
    assert_eq!(Slot::decode((1, 250)), Ok(Slot::Reserved { wait_us: 250 }));
    assert_eq!(Claim::decode((-1, String::new())), Ok(Claim::Wait));
}

/// Every assembled script compiles in Redis's Lua (SCRIPT LOAD on the machine's Redis).
#[test]
fn every_script_compiles_in_redis() {
    let client = ::redis::Client::open("redis://127.0.0.1:6379").expect("client");
    let mut conn = client.get_connection().expect("Redis on 127.0.0.1:6379");
    for (name, src) in SOURCES {
        let body = assemble(src).expect("assembles");
        let loaded: ::redis::RedisResult<String> = ::redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(&body)
            .query(&mut conn);
        assert!(loaded.is_ok(), "{name}.lua does not compile: {loaded:?}");
    }
}
