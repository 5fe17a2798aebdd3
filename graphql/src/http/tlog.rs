//! The log as a C2SP transparency log: `GET /checkpoint` (the signed note) and the C2SP
//! `tlog-tiles` resources, `GET /tile/<L>/<N>[.p/<W>]` (hash tiles) and
//! `GET /tile/entries/<N>[.p/<W>]` (entry bundles: each leaf as a 16-bit big-endian length and
//! its bytes, the RFC 8785 form of the exported event), so that existing tlog clients can fetch
//! and verify the log. Full tiles never change and are served as immutable. Witnesses post their
//! cosignatures to `POST /checkpoint/cosignature`; `GET /checkpoint` carries those for the latest
//! checkpoint and `GET /checkpoint/witnessed?min=N` is the largest checkpoint N of them cosigned.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use ledger::merkle::Tile;

use super::Shared;
use crate::app::bearer;
use crate::error::Code;

/// `GET /checkpoint`.
pub(super) async fn checkpoint(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse_unless_readable(&shared, &headers) {
        return refused;
    }
    match shared.app.checkpoint_note() {
        Some(note) => note_response(note),
        None => text(StatusCode::NOT_FOUND, "this ledger has no log key, so it signs no checkpoints\n".into()),
    }
}

fn note_response(note: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], note).into_response()
}

/// `GET /checkpoint/witnessed?min=N`: the largest checkpoint at least N (default 1) of the
/// configured witnesses cosigned, with their cosignatures.
pub(super) async fn witnessed(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<WitnessedQuery>,
) -> Response {
    if let Some(refused) = refuse_unless_readable(&shared, &headers) {
        return refused;
    }
    let min = query.min.unwrap_or(1);
    match shared.app.witnessed(min) {
        Some(note) => note_response(note),
        None => {
            text(StatusCode::NOT_FOUND, format!("no checkpoint is cosigned by {min} of this server's witnesses yet\n"))
        }
    }
}

/// The query of `GET /checkpoint/witnessed`.
#[derive(Debug, serde::Deserialize)]
pub(super) struct WitnessedQuery {
    min: Option<usize>,
}

/// `POST /checkpoint/cosignature`: a witness's cosigned note (text).
pub(super) async fn cosignature(State(shared): State<Shared>, body: String) -> Response {
    match shared.app.add_cosignature(&body) {
        Ok((size, count)) => text(
            StatusCode::OK,
            format!("accepted: the checkpoint of {size} events now carries {count} witness cosignature(s)\n"),
        ),
        Err(e) if e.code == Code::Forbidden => text(StatusCode::FORBIDDEN, format!("{}\n", e.message)),
        Err(e) if e.code == Code::NotFound => text(StatusCode::NOT_FOUND, format!("{}\n", e.message)),
        Err(e) => text(StatusCode::BAD_REQUEST, format!("{}\n", e.message)),
    }
}

/// `GET /tile/{*path}`.
pub(super) async fn tile(State(shared): State<Shared>, headers: HeaderMap, Path(path): Path<String>) -> Response {
    if let Some(refused) = refuse_unless_readable(&shared, &headers) {
        return refused;
    }
    let Some(tile) = parse(&path) else {
        return text(
            StatusCode::NOT_FOUND,
            format!("tile/{path} is not a tile path (tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>])\n"),
        );
    };
    let full = tile.width() == 1 << ledger::merkle::TILE_HEIGHT;
    let app = shared.app.clone();
    let read = tokio::task::spawn_blocking(move || {
        if tile.is_data() {
            app.entry_bundle(tile.level_index(), tile.width())
        } else {
            app.hash_tile(tile.level(), tile.level_index(), tile.width())
        }
    })
    .await;
    match read {
        Ok(Ok(bytes)) => {
            let cache = if full { "public, max-age=31536000, immutable" } else { "no-cache" };
            let mut response = bytes.into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
            response
        }
        Ok(Err(e)) if e.code == Code::InvalidInput => text(StatusCode::NOT_FOUND, format!("{}\n", e.message)),
        Ok(Err(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{}\n", e.message)),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "the tile could not be read\n".into()),
    }
}

/// A C2SP tile path (after `tile/`) as `tlog_tiles`' tile: its parser reads Go's sumdb paths,
/// which spell the same tiles `tile/8/<L>/…` and `tile/8/data/…`.
fn parse(path: &str) -> Option<Tile> {
    let go = match path.strip_prefix("entries/") {
        Some(rest) => format!("tile/{}/data/{rest}", ledger::merkle::TILE_HEIGHT),
        None => format!("tile/{}/{path}", ledger::merkle::TILE_HEIGHT),
    };
    let tile = Tile::from_path(&go).ok()?;
    (tile.height() == ledger::merkle::TILE_HEIGHT).then_some(tile)
}

fn refuse_unless_readable(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let token = bearer(headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()));
    let caller = shared.app.authenticate(token);
    shared.app.require_read(&caller).err().map(|e| text(StatusCode::UNAUTHORIZED, format!("{}\n", e.message)))
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn c2sp_paths_parse_and_others_do_not() {
        let t = parse("0/x001/234").expect("a full hash tile");
        assert_eq!((t.level(), t.level_index(), t.width(), t.is_data()), (0, 1234, 256, false));
        let t = parse("entries/000.p/7").expect("a partial bundle");
        assert_eq!((t.level_index(), t.width(), t.is_data()), (0, 7, true));
        assert!(parse("1/002.p/300").is_none());
        assert!(parse("../checkpoint").is_none());
        assert!(parse("0/1234").is_none(), "N is written in groups of three digits");
    }
}
