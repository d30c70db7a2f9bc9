//! A tiny line server and client for end-to-end tests: the client sends one
//! line, the server answers one fixed line and closes. Every socket operation
//! has a timeout, and the server stops (and is joined) when dropped.

use std::{
    io::{BufRead, BufReader, ErrorKind, Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::Duration,
};

use anyhow::{Context, Result};

pub struct LineServer {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    handle: Option<thread::JoinHandle<()>>,
}

impl LineServer {
    /// Serves `listener` (bound in whatever namespace it was made in) on a
    /// thread, answering every connection with `reply`.
    pub fn start(listener: TcpListener, reply: &'static str, timeout: Duration) -> Result<Self> {
        // Non-blocking accept, so the thread notices `stop` within a few ms.
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let (s, n) = (stop.clone(), served.clone());
        let handle = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        if answer(&conn, reply, timeout).is_ok() {
                            n.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => {
                        eprintln!("line server: accept: {e}");
                        thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        });
        Ok(Self {
            stop,
            served,
            handle: Some(handle),
        })
    }

    /// Connections answered so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }
}

impl Drop for LineServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn answer(mut conn: &TcpStream, reply: &str, timeout: Duration) -> Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(timeout))?;
    conn.set_write_timeout(Some(timeout))?;
    let mut line = String::new();
    BufReader::new(conn).read_line(&mut line)?;
    conn.write_all(reply.as_bytes())?;
    conn.shutdown(Shutdown::Write)?;
    // Wait for the client's FIN, so the server never closes with unread data (an RST).
    let mut rest = Vec::new();
    let _ = conn.read_to_end(&mut rest);
    Ok(())
}

/// Connects to `addr`, sends one line, and returns the whole answer.
pub fn request(addr: SocketAddr, timeout: Duration) -> Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(b"hello\n")?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)
        .with_context(|| format!("reading from {addr}"))?;
    Ok(reply)
}
