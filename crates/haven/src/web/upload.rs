//! Reads an upload's file from a `multipart/form-data` body, for services that take a
//! [`FileUpload`]. A small task owns the body and hands the file on piece by piece
//! through a channel of one, so memory stays flat and a service that stops reading (a
//! refused type, a size over the cap) ends the read.

use axum::extract::Multipart;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use crate::error::Error;
use crate::upload::{FileUpload, IncomingFile};

type Found = Result<Option<Option<String>>, Error>;

impl FileUpload for Multipart {
    async fn file(self, name: &str) -> Result<Option<IncomingFile>, Error> {
        let (pieces_tx, pieces_rx) = mpsc::channel::<Result<Bytes, Error>>(1);
        let (found_tx, found_rx) = oneshot::channel::<Found>();
        tokio::spawn(read(self, name.to_owned(), found_tx, pieces_tx));
        let Some(file_name) = found_rx
            .await
            .map_err(|_| Error::Malformed("the upload was cut short".to_owned()))??
        else {
            return Ok(None);
        };
        let pieces =
            futures_util::stream::unfold(
                pieces_rx,
                |mut rx| async move { rx.recv().await.map(|piece| (piece, rx)) },
            );
        Ok(Some(IncomingFile {
            name: file_name,
            pieces: pieces.boxed(),
        }))
    }
}

async fn read(
    mut multipart: Multipart,
    name: String,
    found: oneshot::Sender<Found>,
    pieces: mpsc::Sender<Result<Bytes, Error>>,
) {
    let mut field = loop {
        match multipart.next_field().await {
            Ok(Some(field)) if field.name() == Some(name.as_str()) => break field,
            Ok(Some(_)) => {}
            Ok(None) => {
                let _ = found.send(Ok(None));
                return;
            }
            Err(err) => {
                let _ = found.send(Err(Error::Malformed(format!("not a multipart upload: {err}"))));
                return;
            }
        }
    };
    if found.send(Ok(Some(field.file_name().map(str::to_owned)))).is_err() {
        return;
    }
    loop {
        let piece = match field.chunk().await {
            Ok(Some(chunk)) => Ok(chunk),
            Ok(None) => return,
            Err(err) => Err(Error::Malformed(format!("the upload was cut short: {err}"))),
        };
        let failed = piece.is_err();
        if pieces.send(piece).await.is_err() || failed {
            return;
        }
    }
}
