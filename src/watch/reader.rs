//! Splitting one open file into complete lines, from a byte offset, without
//! ever holding more than one line (bounded) in memory: a partial last line
//! waits for its newline, and a line longer than the limit is skipped as it
//! streams past, so the next line is still found.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

/// What the splitter found.
pub(crate) enum Piece<'a> {
    /// A complete line, without its `\n` (trailing `\r`s are still there).
    Line(&'a [u8]),
    /// A line at `offset` exceeded the limit (`len` bytes seen so far); it is
    /// being skipped up to its newline.
    TooLong { offset: u64, len: usize },
}

/// One open file (the live one or a rotated one being drained).
pub(crate) struct Reader {
    pub(crate) file: File,
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    /// Where the next `read` starts.
    pub(crate) off: u64,
    /// The start of the line not delivered yet: everything before it was
    /// delivered or skipped. This is the position the database stores.
    pub(crate) pos: u64,
    partial: Vec<u8>,
    /// Inside an over-long line: drop bytes up to the next newline.
    skipping: bool,
}

pub(crate) const CHUNK: usize = 64 * 1024;

impl Reader {
    /// Wraps an open file, reading from `pos`. When `pos` is not at a line
    /// start (a tail start on a partial last line, or a restored position),
    /// the fragment up to the next newline is dropped rather than delivered
    /// as if it were a line.
    pub(crate) fn new(file: File, pos: u64) -> io::Result<Reader> {
        let meta = file.metadata()?;
        let mut r = Reader {
            file,
            dev: meta.dev(),
            ino: meta.ino(),
            off: pos,
            pos,
            partial: Vec::new(),
            skipping: false,
        };
        if pos > 0 {
            let mut b = [0u8; 1];
            if r.file.read_at(&mut b, pos - 1)? == 1 && b[0] != b'\n' {
                r.skipping = true;
            }
        }
        Ok(r)
    }

    pub(crate) fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// Starts over from `pos` (after a truncation), forgetting the partial line.
    pub(crate) fn reset(&mut self, pos: u64) {
        self.off = pos;
        self.pos = pos;
        self.partial.clear();
        self.skipping = false;
    }

    /// Reads up to about `budget` bytes (whole chunks) or to the end of the
    /// file, handing every complete line and every over-long one to `emit`.
    /// Returns the number of bytes read; fewer than `budget` means the end of
    /// the file was reached.
    pub(crate) fn read(
        &mut self,
        budget: usize,
        max_line: usize,
        buf: &mut [u8],
        emit: &mut dyn FnMut(Piece<'_>),
    ) -> io::Result<usize> {
        let mut total = 0;
        while total < budget {
            let n = match self.file.read_at(buf, self.off) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.split(&buf[..n], max_line, emit);
            total += n;
        }
        Ok(total)
    }

    fn split(&mut self, chunk: &[u8], max_line: usize, emit: &mut dyn FnMut(Piece<'_>)) {
        let base = self.off;
        let mut start = 0;
        while start < chunk.len() {
            let rest = &chunk[start..];
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let seg = &rest[..i];
                    if self.skipping {
                        self.skipping = false;
                    } else if self.partial.len() + seg.len() > max_line {
                        emit(Piece::TooLong {
                            offset: self.pos,
                            len: self.partial.len() + seg.len(),
                        });
                        self.partial.clear();
                    } else if self.partial.is_empty() {
                        emit(Piece::Line(seg));
                    } else {
                        self.partial.extend_from_slice(seg);
                        emit(Piece::Line(&self.partial));
                        self.partial.clear();
                    }
                    start += i + 1;
                    self.pos = base + start as u64;
                }
                None => {
                    if !self.skipping {
                        if self.partial.len() + rest.len() > max_line {
                            emit(Piece::TooLong {
                                offset: self.pos,
                                len: self.partial.len() + rest.len(),
                            });
                            self.partial = Vec::new();
                            self.skipping = true;
                        } else {
                            self.partial.extend_from_slice(rest);
                        }
                    }
                    start = chunk.len();
                }
            }
        }
        self.off = base + chunk.len() as u64;
    }
}

/// The first line of a file (with its newline) as fail2ban hashes it: the
/// SHA-1 hex digest (see `sha1`: what fail2ban 1.0.2 really uses), or
/// `None` while the first line is incomplete. Lines beyond `limit` bytes
/// are not hashed (`None`).
pub(crate) fn first_line_hash(file: &File, limit: usize) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        let n = file.read_at(&mut buf, line.len() as u64)?;
        if n == 0 {
            return Ok(None);
        }
        if let Some(i) = buf[..n].iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&buf[..=i]);
            return Ok(Some(super::sha1::sha1_hex(&line)));
        }
        line.extend_from_slice(&buf[..n]);
        if line.len() > limit {
            return Ok(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(content: &[u8], chunk: usize, max_line: usize) -> Vec<String> {
        let dir = std::env::temp_dir().join(format!("ferroban-reader-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(format!("f{chunk}-{max_line}-{}", content.len()));
        std::fs::write(&p, content).unwrap();
        let mut r = Reader::new(File::open(&p).unwrap(), 0).unwrap();
        let mut buf = vec![0u8; chunk];
        let mut out = Vec::new();
        r.read(usize::MAX, max_line, &mut buf, &mut |p| match p {
            Piece::Line(l) => out.push(String::from_utf8_lossy(l).into_owned()),
            Piece::TooLong { offset, .. } => out.push(format!("<long@{offset}>")),
        })
        .unwrap();
        std::fs::remove_file(&p).unwrap();
        // Best effort: another test of this process may still use the directory.
        let _ = std::fs::remove_dir(&dir);
        out
    }

    #[test]
    fn splits_across_chunks_and_skips_long_lines() {
        let content = b"one\ntwo\nxxxxxxxxxxxxxxxxxxxx\nthree\npart";
        for chunk in [1, 2, 3, 5, 64] {
            assert_eq!(
                lines_of(content, chunk, 10),
                vec!["one", "two", "<long@8>", "three"],
                "chunk {chunk}"
            );
        }
    }
}
