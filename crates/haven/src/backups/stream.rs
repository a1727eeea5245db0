//! Bridges between the storage layer's async streams and the synchronous readers and
//! writers that age and tar work with. Backups run on a blocking thread; these wait on
//! the runtime for each chunk, so memory holds one chunk at a time whatever the size.

use std::io::{Read, Write};

use bytes::{Buf as _, Bytes};
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use tokio::runtime::Handle;

use crate::compliance::storage::{ObjectWriter, StorageError};

fn io_error(err: &StorageError) -> std::io::Error {
    std::io::Error::other(err.to_string())
}

/// An object's bytes as a `Read`.
pub struct ObjectReader {
    stream: BoxStream<'static, Result<Bytes, StorageError>>,
    chunk: Bytes,
    runtime: Handle,
}

impl ObjectReader {
    pub fn new(stream: BoxStream<'static, Result<Bytes, StorageError>>, runtime: Handle) -> Self {
        Self {
            stream,
            chunk: Bytes::new(),
            runtime,
        }
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.runtime.block_on(self.stream.next()) {
                Some(chunk) => self.chunk = chunk.map_err(|e| io_error(&e))?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}

/// Where a backup's bytes go: a local file, or an object on the cloud target.
pub enum Sink {
    File(std::io::BufWriter<std::fs::File>),
    Object {
        writer: Option<Box<ObjectWriter>>,
        runtime: Handle,
    },
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::File(file) => file.write(buf),
            Self::Object { writer, runtime } => {
                let writer = writer
                    .as_mut()
                    .ok_or_else(|| std::io::Error::other("the upload has ended"))?;
                runtime.block_on(writer.write(buf)).map_err(|e| io_error(&e))?;
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::File(file) => file.flush(),
            Self::Object { .. } => Ok(()),
        }
    }
}

impl Sink {
    /// Makes what was written durable (fsync) or visible (the upload completes).
    pub fn finish(self) -> std::io::Result<()> {
        match self {
            Self::File(file) => {
                let file = file.into_inner().map_err(std::io::IntoInnerError::into_error)?;
                file.sync_all()
            }
            Self::Object { writer, runtime } => match writer {
                Some(writer) => runtime.block_on((*writer).finish()).map_err(|e| io_error(&e)),
                None => Ok(()),
            },
        }
    }
}
