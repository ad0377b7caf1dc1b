//! CPU time of processes, from `/proc/PID/stat` (utime + stime).

use anyhow::{bail, Context, Result};

/// Clock ticks per second, the unit of utime and stime in `/proc/PID/stat`.
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a configuration value; it has no
    // preconditions and touches no memory of ours.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

/// utime + stime of `pid` (all its threads), in clock ticks.
pub fn process_ticks(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_stat_ticks(&stat).with_context(|| format!("parsing {path}"))
}

/// utime + stime from the text of a `/proc/PID/stat` file. The command name
/// (field 2) is in parentheses and may hold spaces, so fields are counted
/// from the last `)`: utime and stime are fields 14 and 15.
fn parse_stat_ticks(stat: &str) -> Result<u64> {
    let Some(close) = stat.rfind(')') else {
        bail!("no ')' after the command name");
    };
    // After ") " come field 3 (state), 4, ...: utime is the 12th of those.
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    if fields.len() < 13 {
        bail!("only {} fields after the command name", fields.len());
    }
    let utime: u64 = fields[11].parse().context("utime")?;
    let stime: u64 = fields[12].parse().context("stime")?;
    Ok(utime + stime)
}

/// CPU time spent by a set of processes between [`CpuMeter::start`] and
/// [`CpuMeter::seconds`].
#[derive(Debug)]
pub struct CpuMeter {
    pids: Vec<u32>,
    start_ticks: u64,
    ticks_per_second: u64,
}

impl CpuMeter {
    /// Reads the current CPU time of `pids`; fails if one is not running.
    pub fn start(pids: &[u32]) -> Result<Self> {
        Ok(Self {
            pids: pids.to_vec(),
            start_ticks: Self::ticks(pids)?,
            ticks_per_second: clock_ticks_per_second(),
        })
    }

    fn ticks(pids: &[u32]) -> Result<u64> {
        pids.iter().map(|&pid| process_ticks(pid)).sum()
    }

    /// CPU seconds the processes spent since `start`.
    pub fn seconds(&self) -> Result<f64> {
        let now = Self::ticks(&self.pids)?;
        Ok(now.saturating_sub(self.start_ticks) as f64 / self.ticks_per_second as f64)
    }
}

/// Parses `PID,PID,...`.
pub fn parse_pids(list: &str) -> Result<Vec<u32>> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().with_context(|| format!("bad pid {s:?}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utime_and_stime_after_a_name_with_spaces() {
        let stat = "1234 (nats server) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0";
        assert_eq!(parse_stat_ticks(stat).ok(), Some(325));
    }

    #[test]
    fn reads_this_process() {
        assert!(process_ticks(std::process::id()).is_ok());
        assert!(clock_ticks_per_second() > 0);
    }

    #[test]
    fn parses_pid_lists() {
        assert_eq!(parse_pids("1, 2,3").ok(), Some(vec![1, 2, 3]));
        assert!(parse_pids("1,x").is_err());
    }
}
