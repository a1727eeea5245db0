//! A file arriving in a request, as services read it: its name as given and its content
//! in pieces, read as it streams (never held whole). The web kit reads it from a
//! multipart body (`web::upload`); a service takes any [`FileUpload`].

use bytes::Bytes;
use futures_util::stream::BoxStream;

use crate::error::Error;

/// One file, streaming.
pub struct IncomingFile {
    /// The name the sender gave, unchecked.
    pub name: Option<String>,
    /// The content in pieces; an error when the upload is cut short.
    pub pieces: BoxStream<'static, Result<Bytes, Error>>,
}

/// Where an upload's file comes from.
pub trait FileUpload: Send {
    /// The file sent as `field`, when the request carries one.
    fn file(self, field: &str) -> impl Future<Output = Result<Option<IncomingFile>, Error>> + Send;
}
