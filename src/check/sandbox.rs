//! The file-system sandbox of the systemd unit that runs Roost, read from
//! the unit file and its drop-ins, so `roost check` can tell which mail
//! paths the service will find read-only or hidden, and which line fixes it.
//!
//! Only the settings that decide where the service may write are read:
//! `ProtectSystem=`, `ProtectHome=`, `ReadWritePaths=`, `ReadOnlyPaths=`,
//! `PrivateTmp=`. The rest of the unit does not change what mail it reaches.

use std::path::{Path, PathBuf};

/// Where systemd looks for a system unit, most specific first.
const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];
const UNIT_NAME: &str = "roost.service";
/// The config `roost serve` reads when the unit names none with `-c`.
const DEFAULT_CONFIG: &str = "/etc/roost/roost.conf";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sandbox {
    /// The unit file, for messages.
    pub unit: PathBuf,
    /// `strict`, `full`, `yes` (= `true`), or empty for off.
    protect_system: String,
    /// `yes`, `read-only`, `tmpfs`, or empty for off.
    protect_home: String,
    pub read_write: Vec<PathBuf>,
    read_only: Vec<PathBuf>,
    pub private_tmp: bool,
    /// The config file `ExecStart=` hands to Roost.
    config: Option<PathBuf>,
}

/// What the service would meet at a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    Writable,
    /// Mounted read-only: writes fail with EROFS.
    ReadOnly,
    /// Replaced by an empty private directory (PrivateTmp, ProtectHome=yes).
    Hidden(&'static str),
}

impl Sandbox {
    /// The installed unit whose `ExecStart=` serves `config`, if any.
    pub fn installed_for(config: &Path) -> Option<Sandbox> {
        let unit = UNIT_DIRS
            .iter()
            .map(|d| Path::new(d).join(UNIT_NAME))
            .find(|p| p.is_file())?;
        let mut drop_ins = Vec::new();
        for dir in UNIT_DIRS {
            drop_ins.extend(conf_files(&Path::new(dir).join(format!("{UNIT_NAME}.d"))));
        }
        let sandbox = Sandbox::read(&unit, &drop_ins)?;
        let same = |a: &Path| {
            let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            canon(a) == canon(config)
        };
        sandbox
            .config
            .as_deref()
            .is_some_and(same)
            .then_some(sandbox)
    }

    /// A unit named on the command line, with drop-ins in `FILE.d/`.
    pub fn from_file(unit: &Path) -> Result<Sandbox, String> {
        let mut d = unit.as_os_str().to_owned();
        d.push(".d");
        let drop_ins = conf_files(Path::new(&d));
        Sandbox::read(unit, &drop_ins).ok_or_else(|| format!("cannot read unit {}", unit.display()))
    }

    fn read(unit: &Path, drop_ins: &[PathBuf]) -> Option<Sandbox> {
        let mut s = Sandbox {
            unit: unit.to_path_buf(),
            ..Sandbox::default()
        };
        s.apply(&std::fs::read_to_string(unit).ok()?);
        for d in drop_ins {
            if let Ok(text) = std::fs::read_to_string(d) {
                s.apply(&text);
            }
        }
        Some(s)
    }

    /// Applies one unit file's `[Service]` section over what came before,
    /// as systemd merges drop-ins: lists grow, an empty value clears them.
    fn apply(&mut self, text: &str) {
        let mut in_service = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                in_service = line == "[Service]";
                continue;
            }
            if !in_service || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "ProtectSystem" => self.protect_system = normalize_bool(value),
                "ProtectHome" => self.protect_home = normalize_bool(value),
                "PrivateTmp" => self.private_tmp = normalize_bool(value) == "yes",
                "ReadWritePaths" => extend_paths(&mut self.read_write, value),
                "ReadOnlyPaths" => extend_paths(&mut self.read_only, value),
                "ExecStart" if !value.is_empty() => self.config = Some(config_of(value)),
                _ => {}
            }
        }
    }

    /// What the service meets at `path` (absolute).
    pub fn access(&self, path: &Path) -> Access {
        let under = |dirs: &[&str]| dirs.iter().any(|d| path.starts_with(d));
        if self.private_tmp && under(&["/tmp", "/var/tmp"]) {
            return Access::Hidden("PrivateTmp=yes gives the service its own empty /tmp");
        }
        let home = under(&["/home", "/root", "/run/user"]);
        if home && matches!(self.protect_home.as_str(), "yes" | "tmpfs") {
            return Access::Hidden("ProtectHome= hides /home from the service");
        }
        let longest = |list: &[PathBuf]| {
            list.iter()
                .filter(|p| path.starts_with(p))
                .map(|p| p.components().count())
                .max()
        };
        match (longest(&self.read_write), longest(&self.read_only)) {
            (Some(w), Some(r)) if w > r => return Access::Writable,
            (Some(_), None) => return Access::Writable,
            (_, Some(_)) => return Access::ReadOnly,
            (None, None) => {}
        }
        if home && self.protect_home == "read-only" {
            return Access::ReadOnly;
        }
        let read_only = match self.protect_system.as_str() {
            "strict" => !under(&["/dev", "/proc", "/sys", "/run"]),
            "full" => under(&["/usr", "/boot", "/efi", "/etc"]),
            "yes" => under(&["/usr", "/boot", "/efi"]),
            _ => false,
        };
        if read_only {
            Access::ReadOnly
        } else {
            Access::Writable
        }
    }

    /// The writable paths the unit lists, for messages.
    pub fn writable_list(&self) -> String {
        if self.read_write.is_empty() {
            return "none".to_string();
        }
        self.read_write
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether `ProtectHome=` keeps `path` from being written.
    pub fn home_protected(&self, path: &Path) -> bool {
        ["/home", "/root", "/run/user"]
            .iter()
            .any(|d| path.starts_with(d))
            && !self.protect_home.is_empty()
    }
}

fn normalize_bool(value: &str) -> String {
    match value.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => "yes".to_string(),
        "0" | "no" | "false" | "off" | "" => String::new(),
        other => other.to_string(),
    }
}

/// `ReadWritePaths=-/var/mail +/srv`: the prefixes only say to skip missing
/// paths or to resolve outside the root; the path is what matters here.
fn extend_paths(list: &mut Vec<PathBuf>, value: &str) {
    if value.is_empty() {
        list.clear();
        return;
    }
    list.extend(
        value
            .split_whitespace()
            .map(|p| p.trim_start_matches(['-', '+']))
            .filter(|p| p.starts_with('/'))
            .map(PathBuf::from),
    );
}

/// The `-c FILE` (or `--config FILE`) of an `ExecStart=` line.
fn config_of(exec: &str) -> PathBuf {
    let words: Vec<&str> = exec.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        if *w == "-c" || *w == "--config" {
            if let Some(next) = words.get(i + 1) {
                return PathBuf::from(next);
            }
        }
        if let Some(p) = w.strip_prefix("--config=") {
            return PathBuf::from(p);
        }
    }
    PathBuf::from(DEFAULT_CONFIG)
}

/// `*.conf` files in a drop-in directory, in the order systemd reads them.
fn conf_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox(text: &str) -> Sandbox {
        let mut s = Sandbox::default();
        s.apply(text);
        s
    }

    #[test]
    fn packaged_unit_allows_only_its_paths() {
        let s = sandbox(include_str!("../../packaging/roost.service"));
        assert_eq!(
            s.config.as_deref(),
            Some(Path::new("/etc/roost/roost.conf"))
        );
        assert_eq!(s.access(Path::new("/var/mail/ann")), Access::Writable);
        assert_eq!(s.access(Path::new("/var/log/roost")), Access::Writable);
        assert_eq!(s.access(Path::new("/srv/mail/ann")), Access::ReadOnly);
        assert_eq!(s.access(Path::new("/home/ann/Maildir")), Access::ReadOnly);
        assert!(matches!(s.access(Path::new("/tmp/x")), Access::Hidden(_)));
    }

    /// trace_dir = /var/log/roost works under the packaged unit: it is in
    /// the writable paths, and the unit creates it for the run-as account
    /// before the sandbox (which denies root both /var/log and chown) closes.
    #[test]
    fn packaged_unit_ships_the_trace_directory() {
        let unit = include_str!("../../packaging/roost.service");
        let s = sandbox(unit);
        assert_eq!(s.access(Path::new("/var/log/roost")), Access::Writable);
        assert_eq!(s.access(Path::new("/var/log")), Access::ReadOnly);
        let pre: Vec<&str> = unit
            .lines()
            .filter_map(|l| l.strip_prefix("ExecStartPre="))
            .collect();
        assert!(
            pre.iter().any(|l| l.starts_with('+')
                && l.contains("install -d -m 0750 -o roost -g roost /var/log/roost")),
            "{pre:?}"
        );
        let conf = include_str!("../../packaging/roost.conf.example");
        assert!(
            conf.contains("use /var/log/roost"),
            "roost.conf.example says where"
        );
    }

    #[test]
    fn drop_ins_extend_and_reset() {
        let mut s = sandbox("[Service]\nProtectSystem=strict\nReadWritePaths=-/var/mail\n");
        s.apply("[Service]\nReadWritePaths=/srv/mail\nProtectHome=no\nReadWritePaths=/home\n");
        assert_eq!(s.access(Path::new("/srv/mail/a")), Access::Writable);
        assert_eq!(s.access(Path::new("/home/a/Maildir")), Access::Writable);
        s.apply("[Service]\nReadWritePaths=\n[Install]\nReadWritePaths=/srv\n");
        assert_eq!(s.access(Path::new("/srv/mail/a")), Access::ReadOnly);
    }
}
