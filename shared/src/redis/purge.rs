//! Removing one fleet's keys from a shared Redis (tests and tools): SCAN in batches, never KEYS
//! or FLUSHDB.

/// Deletes every key of one fleet (everything under `prefix`), for tests and tools that share a
/// Redis: SCAN in batches, never KEYS or FLUSHDB. Returns how many keys it deleted.
pub fn purge_blocking(redis_url: &str, prefix: &str) -> ::redis::RedisResult<u64> {
    let client = ::redis::Client::open(redis_url)?;
    let mut conn = client.get_connection_with_timeout(std::time::Duration::from_millis(500))?;
    // Redis glob: escape its special characters so the prefix matches only itself.
    let escaped: String = prefix
        .chars()
        .flat_map(|c| match c {
            '*' | '?' | '[' | ']' | '\\' | '{' | '}' => vec!['\\', c],
            _ => vec![c],
        })
        .collect();
    let pattern = format!("{escaped}*");
    let mut cursor: u64 = 0;
    let mut deleted = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = ::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query(&mut conn)?;
        if !keys.is_empty() {
            deleted += ::redis::cmd("DEL").arg(&keys).query::<u64>(&mut conn)?;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_removes_only_its_own_prefix() {
        let url = "redis://127.0.0.1:6379";
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (mine, other) = (format!("{{purge-{id}}}"), format!("{{purge-{id}x}}"));
        let client = ::redis::Client::open(url).expect("client");
        let mut conn = client.get_connection().expect("Redis on 127.0.0.1:6379");
        for i in 0..1500 {
            let _: () = ::redis::cmd("SET")
                .arg(format!("{mine}:k{i}"))
                .arg(1)
                .query(&mut conn)
                .expect("set");
        }
        let _: () = ::redis::cmd("SET")
            .arg(format!("{other}:k"))
            .arg(1)
            .query(&mut conn)
            .expect("set");
        assert_eq!(purge_blocking(url, &mine).expect("purge"), 1500);
        let left: u64 = ::redis::cmd("EXISTS")
            .arg(format!("{other}:k"))
            .query(&mut conn)
            .expect("exists");
        assert_eq!(
            left, 1,
            "a longer prefix that merely starts the same is not touched"
        );
        assert_eq!(purge_blocking(url, &other).expect("purge"), 1);
    }
}
