//! A server whose every answer names the request it answers, sent in parts
//! with pauses between them: the witness for "no borrower ever reads a byte
//! meant for another".
//!
//! A request is one line, `<id> <parts> <pause_us>`; its answer is
//! [`answer(id)`](answer), written in `parts` pieces, each after a pause of
//! `pause_us` microseconds. Connections stay open until the client
//! closes (or sends `QUIT`, which the server answers by closing first).

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The full answer to request `id`: every byte of it says whose it is.
pub fn answer(id: u64) -> Vec<u8> {
    let tag = format!("<{id}>");
    let mut bytes = tag.repeat(4).into_bytes();
    bytes.push(b'\n');
    bytes
}

/// The request line for `id`.
pub fn request(id: u64, parts: u64, pause_us: u64) -> Vec<u8> {
    format!("{id} {parts} {pause_us}\n").into_bytes()
}

/// A running tagged server; stops when dropped.
pub struct TaggedServer {
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl TaggedServer {
    /// Starts on a fresh loopback port.
    pub async fn start() -> TaggedServer {
        let listener: TcpListener = timewait_echo::fresh_listener("127.0.0.1".parse().unwrap())
            .await
            .expect("a loopback listener");
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream));
            }
        });
        TaggedServer { addr, accept }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for TaggedServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn serve(stream: TcpStream) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line == "QUIT" {
            return;
        }
        let mut fields = line.split(' ').map(|f| f.parse::<u64>().ok());
        let (Some(Some(id)), Some(Some(parts)), Some(Some(pause_us))) =
            (fields.next(), fields.next(), fields.next())
        else {
            return;
        };
        let answer = answer(id);
        let parts = usize::try_from(parts.clamp(1, 8)).unwrap();
        let size = answer.len().div_ceil(parts);
        for piece in answer.chunks(size) {
            if pause_us > 0 {
                tokio::time::sleep(std::time::Duration::from_micros(pause_us)).await;
            }
            if write.write_all(piece).await.is_err() {
                return;
            }
        }
    }
}
