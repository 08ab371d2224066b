//! CPU accounting: user + system time of processes from `/proc/<pid>/stat`, and of the whole
//! Redis server from `INFO cpu`.

use anyhow::Context;

/// Clock ticks per second (`getconf CLK_TCK`), the unit of `/proc/<pid>/stat` times.
pub fn clock_ticks_per_s() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or_else(|| {
            eprintln!("[bench] warning: `getconf CLK_TCK` failed; assuming 100 ticks/s");
            100.0
        })
}

/// `utime + stime` in ticks from the text of `/proc/<pid>/stat`. The command name (field 2) may
/// hold spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: state(3) ppid(4) … utime(14) stime(15), i.e. indexes 11 and 12 here.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU seconds (user + system) a process has used so far.
pub fn process_cpu_s(pid: u32, ticks_per_s: f64) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let ticks = parse_stat_ticks(&text).with_context(|| format!("parsing {path}"))?;
    Ok(ticks as f64 / ticks_per_s)
}

/// `used_cpu_sys + used_cpu_user` of the whole Redis server, in seconds.
pub fn parse_redis_cpu(info: &str) -> Option<f64> {
    let mut sys = None;
    let mut user = None;
    for line in info.lines() {
        if let Some(v) = line.trim().strip_prefix("used_cpu_sys:") {
            sys = v.parse::<f64>().ok();
        } else if let Some(v) = line.trim().strip_prefix("used_cpu_user:") {
            user = v.parse::<f64>().ok();
        }
    }
    Some(sys? + user?)
}

pub async fn redis_cpu_s(conn: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<f64> {
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(conn)
        .await
        .context("INFO cpu")?;
    parse_redis_cpu(&info).context("INFO cpu has no used_cpu_sys/used_cpu_user")
}

/// Which processes to account.
#[derive(Debug, Clone)]
pub struct Pids {
    pub gateway: u32,
    pub workers: Vec<u32>,
    pub simulator: u32,
}

/// Cumulative CPU seconds at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    pub gateway: f64,
    pub workers: f64,
    pub redis: f64,
    pub simulator: f64,
    pub bench: f64,
}

impl CpuTimes {
    pub async fn sample(
        pids: &Pids,
        ticks_per_s: f64,
        conn: &mut redis::aio::MultiplexedConnection,
    ) -> anyhow::Result<CpuTimes> {
        let mut workers = 0.0;
        for pid in &pids.workers {
            workers += process_cpu_s(*pid, ticks_per_s)?;
        }
        Ok(CpuTimes {
            gateway: process_cpu_s(pids.gateway, ticks_per_s)?,
            workers,
            redis: redis_cpu_s(conn).await?,
            simulator: process_cpu_s(pids.simulator, ticks_per_s)?,
            bench: process_cpu_s(std::process::id(), ticks_per_s)?,
        })
    }

    /// What was used between `earlier` and `self`.
    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes {
            gateway: self.gateway - earlier.gateway,
            workers: self.workers - earlier.workers,
            redis: self.redis - earlier.redis,
            simulator: self.simulator - earlier.simulator,
            bench: self.bench - earlier.bench,
        }
    }

    /// routeq's own cost: gateway + workers + Redis.
    pub fn routeq(&self) -> f64 {
        self.gateway + self.workers + self.redis
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_count_from_the_last_paren() {
        let stat = "4242 (routeq (odd) name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_stat_ticks(stat), Some(325));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn redis_cpu_is_sys_plus_user() {
        let info = "# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:2.250000\r\nused_cpu_sys_children:0.0\r\n";
        assert_eq!(parse_redis_cpu(info), Some(3.75));
        assert_eq!(parse_redis_cpu("# CPU\r\n"), None);
    }
}
