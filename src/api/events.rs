//! `/api/v1/events`: every committed change as a server-sent event, named
//! `<kind>.<op>` (`node.updated`), with the record's public view inlined
//! (secrets redacted by the state mechanism). The stream ends when the
//! server shuts down, so that it does not hold the shutdown up.

use std::convert::Infallible;

use axum::extract::State as AxState;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use super::ApiState;

/// Every committed change as a server-sent event named `<kind>.<op>` (`node.updated`), its data the record's public view; `lagged` says how many a slow reader missed.
#[utoipa::path(get, path = "/api/v1/events", tag = "status", responses((status = 200, description = "An endless stream of events", content_type = "text/event-stream", body = String)))]
pub(crate) async fn stream(AxState(api): AxState<ApiState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let feed = BroadcastStream::new(api.state.subscribe());
    let events = feed
        .map(|item| {
            Ok(match item {
                Ok(change) => {
                    Event::default().event(change.event_name()).id(change.seq.to_string()).data(change.to_json())
                }
                Err(BroadcastStreamRecvError::Lagged(n)) => {
                    Event::default().event("lagged").data(format!("{{\"missed\":{n}}}"))
                }
            })
        })
        .take_until(api.shutdown.cancelled_owned());
    Sse::new(events).keep_alive(KeepAlive::default())
}
