//! `/api/v1/events`: every committed change as a server-sent event, named
//! `<kind>.<op>` (`node.updated`), with the record inlined.

use std::convert::Infallible;

use axum::extract::State as AxState;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;

use super::App;

pub async fn stream(AxState(app): AxState<App>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let feed = BroadcastStream::new(app.state.subscribe());
    let events = feed.map(|item| {
        Ok(match item {
            Ok(change) => Event::default().event(change.event_name()).id(change.seq.to_string()).data(change.to_json()),
            Err(BroadcastStreamRecvError::Lagged(n)) => {
                Event::default().event("lagged").data(format!("{{\"missed\":{n}}}"))
            }
        })
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}
