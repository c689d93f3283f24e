//! The monitor's side of `hybridock attach`: the clients attached to a detached container.
//!
//! The process that starts a detached container binds `attach.sock` (mode 0600) in the
//! container's directory and hands the listening socket to the monitor; each connection is one
//! attached client. Both directions carry frames shaped as docker's stdcopy stream: an 8-byte
//! header (kind, three zero bytes, the payload's length as u32 big-endian), then the payload.
//! Client to monitor: `STDIN` bytes, `STDIN_CLOSE` (this client's input ended: the container's
//! goes on, as a detached docker container's), `STDIN_END` (the container's input ends once it
//! has taken what came before: docker's `StdinOnce`, which the client knows to ask), `RESIZE`
//! (rows, columns: u16 big-endian).
//! Monitor to client: `STDOUT` and `STDERR` bytes as the monitor reads them from the container
//! (what came before the connection is only in the log), and `EXIT` (the code, i32
//! big-endian) last.
//!
//! Invariant: no client can hold up the container or its log. Sockets are non-blocking; a
//! client's unsent output is bounded (`OUTBOUND_LIMIT`) and a client past it is dropped, as is
//! one that sends a malformed frame. Input for the container waits in the caller's bounded
//! buffer: while that is full, clients are not read (they wait, the container does not).
//!
//! Std-only, like the rest of the monitor; the crate includes it too, for its tests.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const EXIT: u8 = 3;
pub const STDIN_CLOSE: u8 = 4;
pub const RESIZE: u8 = 5;
pub const STDIN_END: u8 = 6;

pub const HEADER: usize = 8;
/// Output a client may have queued and not yet read before it is dropped.
pub const OUTBOUND_LIMIT: usize = 4 << 20;
/// The largest frame a client may send.
pub const FRAME_LIMIT: usize = 1 << 20;
/// How long the clients get to read their last output and the exit code.
const FAREWELL: Duration = Duration::from_secs(2);

/// Appends one frame to `out`.
pub fn encode(kind: u8, payload: &[u8], out: &mut Vec<u8>) {
    let length = u32::try_from(payload.len()).expect("frames are far below 4 GiB");
    out.extend_from_slice(&[kind, 0, 0, 0]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(payload);
}

/// What a client asks of the container.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    Stdin(Vec<u8>),
    CloseStdin,
    EndStdin,
    Resize { rows: u16, columns: u16 },
}

/// Splits a client's byte stream into inputs.
#[derive(Default)]
pub struct Decoder {
    pending: Vec<u8>,
}

impl Decoder {
    pub fn feed(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// The next whole input, `None` until one has arrived.
    ///
    /// # Errors
    /// `InvalidData` for a frame no client sends: unknown kind, oversized, bad resize.
    pub fn next_input(&mut self) -> io::Result<Option<Input>> {
        if self.pending.len() < HEADER {
            return Ok(None);
        }
        let kind = self.pending[0];
        let length = u32::from_be_bytes([
            self.pending[4],
            self.pending[5],
            self.pending[6],
            self.pending[7],
        ]) as usize;
        if length > FRAME_LIMIT {
            return Err(malformed("frame too large"));
        }
        if self.pending.len() < HEADER + length {
            return Ok(None);
        }
        let payload: Vec<u8> = self.pending.drain(..HEADER + length).skip(HEADER).collect();
        match kind {
            STDIN => Ok(Some(Input::Stdin(payload))),
            STDIN_CLOSE => Ok(Some(Input::CloseStdin)),
            STDIN_END => Ok(Some(Input::EndStdin)),
            RESIZE if payload.len() == 4 => Ok(Some(Input::Resize {
                rows: u16::from_be_bytes([payload[0], payload[1]]),
                columns: u16::from_be_bytes([payload[2], payload[3]]),
            })),
            _ => Err(malformed("unknown frame")),
        }
    }
}

fn malformed(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// One attached client: its socket, the output it has not read yet, its partial input.
pub struct Client {
    stream: UnixStream,
    outbound: Vec<u8>,
    sent: usize,
    decoder: Decoder,
}

impl Client {
    fn new(stream: UnixStream) -> io::Result<Self> {
        stream.set_nonblocking(true)?;
        Ok(Self {
            stream,
            outbound: Vec::new(),
            sent: 0,
            decoder: Decoder::default(),
        })
    }

    fn unsent(&self) -> usize {
        self.outbound.len() - self.sent
    }

    /// Queues a frame; false when that would pass the client's bound.
    fn queue(&mut self, kind: u8, payload: &[u8]) -> bool {
        if self.unsent() + HEADER + payload.len() > OUTBOUND_LIMIT {
            return false;
        }
        encode(kind, payload, &mut self.outbound);
        true
    }

    /// Writes what the socket takes now.
    fn flush(&mut self) -> io::Result<()> {
        while self.sent < self.outbound.len() {
            match self.stream.write(&self.outbound[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(count) => self.sent += count,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        if self.sent == self.outbound.len() {
            self.outbound.clear();
            self.sent = 0;
        } else if self.sent > OUTBOUND_LIMIT {
            self.outbound.drain(..self.sent);
            self.sent = 0;
        }
        Ok(())
    }

    /// Reads what has arrived into `inputs`; false once the client has gone.
    fn receive(&mut self, inputs: &mut Vec<Input>) -> io::Result<bool> {
        let mut buffer = [0u8; 16 * 1024];
        let open = loop {
            match self.stream.read(&mut buffer) {
                Ok(0) => break false,
                Ok(count) => {
                    self.decoder.feed(&buffer[..count]);
                    if count < buffer.len() {
                        break true;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break true,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        };
        while let Some(input) = self.decoder.next_input()? {
            inputs.push(input);
        }
        Ok(open)
    }
}

/// What the monitor's poll loop should wait for on one descriptor.
pub struct Interest {
    pub fd: RawFd,
    pub read: bool,
    pub write: bool,
}

/// The listening socket and the connected clients.
pub struct Hub {
    listener: UnixListener,
    clients: Vec<Client>,
}

impl Hub {
    /// Takes over `listener` and the connections already queued on it (a client that
    /// connected before the container was spawned misses none of its output).
    ///
    /// # Errors
    /// When the listener cannot be made non-blocking.
    pub fn new(listener: UnixListener) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        let mut hub = Self {
            listener,
            clients: Vec::new(),
        };
        hub.accept();
        Ok(hub)
    }

    #[cfg(test)]
    fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// The descriptors to poll: the listener, and each client (read only while `reading`).
    #[must_use]
    pub fn interests(&self, reading: bool) -> Vec<Interest> {
        let mut interests = vec![Interest {
            fd: self.listener.as_raw_fd(),
            read: true,
            write: false,
        }];
        interests.extend(self.clients.iter().map(|client| Interest {
            fd: client.stream.as_raw_fd(),
            read: reading,
            write: client.unsent() > 0,
        }));
        interests
    }

    /// Sends a frame to every client; one that cannot take it is dropped.
    pub fn broadcast(&mut self, kind: u8, payload: &[u8]) {
        self.clients
            .retain_mut(|client| client.queue(kind, payload) && client.flush().is_ok());
    }

    /// Serves the descriptors poll found ready (`hung_up`: an error or hang-up was reported);
    /// what clients sent lands in `inputs`.
    pub fn serve(&mut self, ready: &[(RawFd, bool)], reading: bool, inputs: &mut Vec<Input>) {
        for &(fd, hung_up) in ready {
            if fd == self.listener.as_raw_fd() {
                self.accept();
                continue;
            }
            let Some(index) = self.clients.iter().position(|c| c.stream.as_raw_fd() == fd) else {
                continue;
            };
            let client = &mut self.clients[index];
            let keep = if reading {
                matches!(client.receive(inputs), Ok(true)) && client.flush().is_ok()
            } else {
                !hung_up && client.flush().is_ok()
            };
            if !keep {
                self.clients.swap_remove(index);
            }
        }
    }

    fn accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            if let Ok(client) = Client::new(stream) {
                self.clients.push(client);
            }
        }
    }

    /// Tells every client the exit code and gives them `FAREWELL` in all to read the rest.
    pub fn finish(mut self, code: i32) {
        self.broadcast(EXIT, &code.to_be_bytes());
        let deadline = Instant::now() + FAREWELL;
        for client in &mut self.clients {
            let _ = client.stream.set_nonblocking(false);
            while client.unsent() > 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || client.stream.set_write_timeout(Some(left)).is_err() {
                    break;
                }
                match client.stream.write(&client.outbound[client.sent..]) {
                    Ok(count) if count > 0 => client.sent += count,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    _ => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(kind, payload, &mut out);
        out
    }

    #[test]
    fn frames_have_docker_stdcopy_headers() {
        assert_eq!(frame(STDOUT, b"hi"), [1, 0, 0, 0, 0, 0, 0, 2, b'h', b'i']);
        assert_eq!(
            frame(EXIT, &7i32.to_be_bytes()),
            [3, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 7]
        );
    }

    #[test]
    fn decoder_waits_for_whole_frames_and_splits_them() {
        let mut bytes = frame(STDIN, b"abc");
        bytes.extend(frame(RESIZE, &[0, 24, 0, 80]));
        bytes.extend(frame(STDIN_CLOSE, b""));
        bytes.extend(frame(STDIN_END, b""));
        let mut decoder = Decoder::default();
        let mut inputs = Vec::new();
        for byte in bytes {
            decoder.feed(&[byte]);
            while let Some(input) = decoder.next_input().unwrap() {
                inputs.push(input);
            }
        }
        assert_eq!(
            inputs,
            [
                Input::Stdin(b"abc".to_vec()),
                Input::Resize {
                    rows: 24,
                    columns: 80
                },
                Input::CloseStdin,
                Input::EndStdin,
            ]
        );
    }

    #[test]
    fn decoder_refuses_what_no_client_sends() {
        let cases: [(&str, Vec<u8>); 3] = [
            ("unknown kind", frame(9, b"")),
            ("short resize", frame(RESIZE, &[0, 24])),
            ("oversized", {
                let mut header = vec![STDIN, 0, 0, 0];
                header.extend(u32::try_from(FRAME_LIMIT + 1).unwrap().to_be_bytes());
                header
            }),
        ];
        for (name, bytes) in cases {
            let mut decoder = Decoder::default();
            decoder.feed(&bytes);
            assert!(decoder.next_input().is_err(), "{name}");
        }
    }

    #[test]
    fn a_client_that_never_reads_is_dropped_and_the_others_keep_up() {
        let directory = std::env::temp_dir().join(format!("hd-attach-test-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("attach.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let stalled = UnixStream::connect(&path).unwrap(); // queued before the hub exists
        let mut hub = Hub::new(listener).unwrap();
        assert_eq!(hub.client_count(), 1);
        let mut reader = UnixStream::connect(&path).unwrap();
        let ready = [(hub.listener.as_raw_fd(), false)];
        hub.serve(&ready, true, &mut Vec::new());
        assert_eq!(hub.client_count(), 2);
        let chunk = vec![b'x'; 64 * 1024];
        let mut received = 0;
        let mut buffer = vec![0u8; 256 * 1024];
        reader.set_nonblocking(true).unwrap();
        for _ in 0..(2 * OUTBOUND_LIMIT / chunk.len()) {
            hub.broadcast(STDOUT, &chunk);
            while let Ok(count) = reader.read(&mut buffer) {
                if count == 0 {
                    break;
                }
                received += count;
            }
        }
        assert_eq!(hub.client_count(), 1, "the stalled client is gone");
        assert!(
            received > OUTBOUND_LIMIT,
            "the reading client got everything so far"
        );
        drop(stalled);
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
