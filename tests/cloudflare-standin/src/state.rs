//! `AppState`: everything the handlers share, built once from the command line.

use crate::config::Config;
use crate::control::Control;
use crate::d1::D1;
use crate::r2::R2;
use crate::rate::FixedWindow;
use crate::vectorize::Vectorize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The state behind every route.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) token: String,
    pub(crate) account: Option<String>,
    /// The global per-token limit.
    pub(crate) limit: Mutex<FixedWindow>,
    /// Workers AI's own per-minute limit.
    pub(crate) ai_limit: Mutex<FixedWindow>,
    pub(crate) control: Control,
    pub(crate) d1: D1,
    pub(crate) vectorize: Vectorize,
    pub(crate) r2: R2,
}

pub(crate) type Shared = Arc<AppState>;

impl AppState {
    pub(crate) fn new(config: &Config) -> anyhow::Result<AppState> {
        Ok(AppState {
            token: config.token.clone(),
            account: config.account.clone(),
            limit: Mutex::new(FixedWindow::new(config.rate_limit, Duration::from_secs(config.rate_window_s))),
            ai_limit: Mutex::new(FixedWindow::new(config.ai_rate_limit, Duration::from_secs(60))),
            control: Control::default(),
            d1: D1::open(&config.d1_databases, config.state_dir.as_deref())?,
            vectorize: Vectorize::new(&config.vectorize_indexes, Duration::from_millis(config.vectorize_delay_ms)),
            r2: R2::new(&config.r2_buckets),
        })
    }
}
