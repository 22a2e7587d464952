//! `cluster-config-file` (nodes.conf): what a node must remember across a restart —
//! its id, its incarnation, its tokens and epoch, and the members it knew (so it can
//! rejoin through them without seeds).
//!
//! ```text
//! # slotcache cluster state: written by the server whenever it changes
//! <id> <ip>:<port> <epoch> <token,token,...|-> myself
//! <id> <ip>:<port> <epoch> <token,token,...|->
//! vars incarnation <n>
//! ```
//!
//! Written atomically: a temporary file is written and fsynced, renamed over the old
//! one, and the directory is fsynced, so a crash leaves either the old or the new file.

use std::io::Write;
use std::path::{Path, PathBuf};

/// One member as remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    pub id: String,
    pub addr: String,
    pub epoch: u64,
    pub tokens: Vec<u16>,
}

/// The file's content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodesFile {
    pub myself: Option<Remembered>,
    pub others: Vec<Remembered>,
    pub incarnation: u64,
}

/// Whether `s` is a node id: 40 lowercase hex characters.
pub fn is_node_id(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl NodesFile {
    /// The file at `path`; `Ok(None)` when there is none yet.
    pub fn load(path: &Path) -> Result<Option<NodesFile>, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("can't read {}: {e}", path.display())),
        };
        NodesFile::parse(&text).map(Some).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<NodesFile, String> {
        let mut file = NodesFile::default();
        for (n, line) in text.lines().enumerate() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let bad = || format!("line {}: unreadable: '{line}'", n + 1);
            match words.as_slice() {
                [] => {}
                [w, ..] if w.starts_with('#') => {}
                ["vars", "incarnation", v] => file.incarnation = v.parse().map_err(|_| bad())?,
                [id, addr, epoch, tokens, rest @ ..] if is_node_id(id) => {
                    let tokens = match *tokens {
                        "-" => Vec::new(),
                        t => t
                            .split(',')
                            .map(|t| t.parse::<u16>().map_err(|_| bad()))
                            .collect::<Result<_, _>>()?,
                    };
                    if addr.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()).is_none() {
                        return Err(bad());
                    }
                    let m = Remembered {
                        id: id.to_string(),
                        addr: addr.to_string(),
                        epoch: epoch.parse().map_err(|_| bad())?,
                        tokens,
                    };
                    match rest {
                        ["myself"] => file.myself = Some(m),
                        [] => file.others.push(m),
                        _ => return Err(bad()),
                    }
                }
                _ => return Err(bad()),
            }
        }
        if file.myself.is_none() {
            return Err("no 'myself' line".into());
        }
        Ok(file)
    }

    pub fn render(&self) -> String {
        let line = |m: &Remembered, mine: bool| {
            let tokens = if m.tokens.is_empty() {
                "-".to_string()
            } else {
                m.tokens.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
            };
            format!("{} {} {} {}{}\n", m.id, m.addr, m.epoch, tokens, if mine { " myself" } else { "" })
        };
        let mut out = String::from("# slotcache cluster state: written by the server whenever it changes\n");
        if let Some(me) = &self.myself {
            out.push_str(&line(me, true));
        }
        for m in &self.others {
            out.push_str(&line(m, false));
        }
        out.push_str(&format!("vars incarnation {}\n", self.incarnation));
        out
    }

    /// Writes the file atomically (module doc).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = path.with_extension("tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(self.render().as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_it_writes() {
        let file = NodesFile {
            myself: Some(Remembered {
                id: "a".repeat(40),
                addr: "127.0.0.1:7000".into(),
                epoch: 3,
                tokens: vec![1023, 2047, 16383],
            }),
            others: vec![Remembered {
                id: "b".repeat(40),
                addr: "10.0.0.2:7001".into(),
                epoch: 0,
                tokens: vec![],
            }],
            incarnation: 1_700_000_000_123,
        };
        let text = file.render();
        assert_eq!(NodesFile::parse(&text), Ok(file.clone()));
        let dir = std::env::temp_dir().join(format!("slotcache-nodes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nodes.conf");
        file.save(&path).unwrap();
        assert_eq!(NodesFile::load(&path).unwrap(), Some(file));
        assert!(!path.with_extension("tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(NodesFile::load(&path).unwrap(), None);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(NodesFile::parse("vars incarnation 1\n").is_err(), "no myself line");
        let id = "c".repeat(40);
        assert!(NodesFile::parse(&format!("{id} 127.0.0.1:x 0 - myself\n")).is_err());
        assert!(NodesFile::parse(&format!("{id} 127.0.0.1:1 0 1,99999 myself\n")).is_err());
        assert!(NodesFile::parse(&format!("{id} 127.0.0.1:1 0 - me\n")).is_err());
        assert!(NodesFile::parse(&format!("{id} 127.0.0.1:1 0 - myself\n")).is_ok());
        assert!(!is_node_id(&"C".repeat(40)) && !is_node_id("abc"));
    }
}
