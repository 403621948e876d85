//! `licentia serve`: the web server, its checkpoint timer, and an orderly shutdown.

use std::process::ExitCode;
use std::time::Duration;

use actix_web::HttpServer;
use licentia_app::AppState;
use licentia_audit::CheckpointOutcome;
use licentia_crypto::KeyMaterial;

use crate::config::Settings;

pub async fn serve(settings: Settings) -> Result<ExitCode, String> {
    let resolved = crate::database::open(&settings).await?;
    tracing::info!(database = %resolved.description, "database ready, migrations applied");
    let result = run(&settings, resolved.db.clone()).await;
    resolved.db.pool.close().await;
    if let Some(pg) = &resolved.embedded {
        pg.stop();
    }
    result
}

async fn run(settings: &Settings, db: licentia_db::Db) -> Result<ExitCode, String> {
    let keys = KeyMaterial::load(&settings.keys_dir(), settings.generate_keys).map_err(|e| format!("keys: {e}"))?;
    let keyring = licentia_crypto::KeyRing::load(&settings.master_keys_dir(), settings.generate_keys).map_err(|e| format!("master keys: {e}"))?;
    let store = settings.blob_store()?;
    // Uploads cut off by a crash left `.part` files; none of them was ever visible.
    match store.clean_temp() {
        Ok(0) => {}
        Ok(n) => tracing::info!(removed = n, "removed unfinished uploads"),
        Err(e) => tracing::warn!(error = %e, "could not clean unfinished uploads"),
    }
    let state = AppState::new(db.clone(), &keys, keyring, store, settings.web())?;
    // Blobs a crash left without their row (written, then the row's transaction never committed).
    match licentia_app::artifacts::collect_garbage(&state, Duration::from_secs(3600), false).await {
        Ok(r) if r.deleted > 0 => tracing::info!(deleted = r.deleted, "removed blobs without an artifact row"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not sweep the blob store"),
    }
    // Audit entries whose chaining a crash or an outage interrupted are chained before anything else.
    if let Err(e) = state.audit_log.seal(&db).await {
        tracing::error!(error = %e, "could not chain pending audit entries");
    }
    if settings.demo {
        let logins = crate::demo::seed_if_empty(&db, &state.audit_log).await.map_err(|e| format!("demo seed: {e}"))?;
        if !logins.is_empty() {
            crate::demo::print_logins(&logins, &format!("http://{}", settings.listen));
        }
    }

    let checkpointer = tokio::spawn(checkpoint_loop(state.clone(), Duration::from_secs(settings.checkpoint_seconds.max(1))));
    licentia_train::device(&settings.training_device).map_err(|e| format!("training_device: {e}"))?;
    let (stop_workers, stop_rx) = tokio::sync::watch::channel(false);
    let host = hostname();
    let workers: Vec<_> = (0..settings.training_workers)
        .map(|i| {
            tokio::spawn(licentia_app::worker::serve(
                state.clone(),
                licentia_app::worker::WorkerConfig::named(format!("{host}:{}:serve-{i}", std::process::id()))
                    .on(&settings.training_device)
                    .lease(settings.training_lease_seconds)
                    .capped_at(Duration::from_secs(settings.max_run_seconds))
                    .per_organisation(settings.max_runs_per_org)
                    .in_region(settings.worker_region.clone()),
                stop_rx.clone(),
            ))
        })
        .collect();
    let mailer = settings.mailer()?.map(|m| tokio::spawn(licentia_app::mail::serve(state.clone(), m, Duration::from_secs(30), stop_rx.clone())));
    let hooks = tokio::spawn(licentia_app::webhooks::serve(state.clone(), Duration::from_secs(5), stop_rx.clone()));
    let app_state = state.clone();
    let mut server = HttpServer::new(move || licentia_web::app(app_state.clone())).shutdown_timeout(30);
    if settings.workers > 0 {
        server = server.workers(settings.workers);
    }
    let server = server.bind(&settings.listen).map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    let addrs: Vec<String> = server.addrs().iter().map(ToString::to_string).collect();
    // The line tests and scripts wait for.
    println!("licentia listening on http://{}", addrs.join(", http://"));
    server.run().await.map_err(|e| format!("server error: {e}"))?;

    checkpointer.abort();
    // Workers finish the batch they are on; a run they leave is reaped by another worker once
    // its lease lapses (or by this node on its next start).
    let _ = stop_workers.send(true);
    for w in workers.into_iter().chain(mailer).chain([hooks]) {
        let _ = tokio::time::timeout(Duration::from_secs(5), w).await;
    }
    // A last checkpoint so that the file outside the database covers everything written (refused,
    // like any other, when the database no longer extends what this node signed and witnessed).
    final_checkpoint(&state).await;
    if let Err(e) = state.audit_log.witness().flush().await {
        tracing::error!(error = %e, "audit witness flush failed");
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Signs a checkpoint every `every` (when the log moved) or as soon as `checkpoint_every` entries
/// have been appended; prunes old login attempts, expired pending logins and ceremonies, and spent
/// reset links hourly.
async fn checkpoint_loop(state: AppState, every: Duration) {
    let mut last_prune = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {},
            _ = state.checkpoint_due.notified() => {},
        }
        checkpoint_once(&state).await;
        licentia_app::account::flush_rejections(&state).await;
        if last_prune.elapsed() > Duration::from_secs(3600) {
            last_prune = std::time::Instant::now();
            if let Ok(mut conn) = state.db.pool.acquire().await {
                let _ = licentia_db::logins::prune(&mut conn, chrono::Utc::now() - chrono::Duration::days(1)).await;
                let _ = licentia_db::factors::prune(&mut conn).await;
                let _ = licentia_db::resets::prune(&mut conn).await;
            }
        }
    }
}

/// The checkpoint at shutdown. Pooled connections opened by the HTTP workers belong to their
/// runtimes, which have stopped by now: using one fails ("the runtime is being shut down") and
/// discards it, so an unavailable database is tried again, at most once per pooled connection
/// and for ten seconds (a database that is really down does not hold the shutdown).
async fn final_checkpoint(state: &AppState) {
    let started = std::time::Instant::now();
    for _ in 0..=state.db.pool.size() {
        match licentia_app::checkpoints::checkpoint(state).await {
            Err(licentia_app::AppError::Unavailable) if started.elapsed() < Duration::from_secs(10) => continue,
            Ok(CheckpointOutcome::Signed(c)) => tracing::info!(seq = c.seq, "audit checkpoint signed"),
            Ok(CheckpointOutcome::Unchanged) => {}
            Ok(CheckpointOutcome::Refused(p)) => eprintln!("audit checkpoint REFUSED: tampering suspected at seq {}: {}", p.seq, p.detail),
            Err(e) => tracing::warn!(error = %e, "audit checkpoint failed"),
        }
        return;
    }
    tracing::warn!("audit checkpoint at shutdown failed: the database stayed unavailable");
}

/// One checkpoint attempt; a refusal is logged as an error by the checkpointer itself and
/// counted in `/metrics`.
async fn checkpoint_once(state: &AppState) {
    match licentia_app::checkpoints::checkpoint(state).await {
        Ok(CheckpointOutcome::Signed(c)) => tracing::info!(seq = c.seq, "audit checkpoint signed"),
        Ok(CheckpointOutcome::Unchanged) => {}
        Ok(CheckpointOutcome::Refused(p)) => eprintln!("audit checkpoint REFUSED: tampering suspected at seq {}: {}", p.seq, p.detail),
        Err(e) => tracing::warn!(error = %e, "audit checkpoint failed"),
    }
}

/// A name for worker ids (leases show which node holds a run).
pub fn hostname() -> String {
    licentia_app::state::node_name()
}

/// `licentia worker`: training workers only, no HTTP, until SIGINT/SIGTERM.
pub async fn worker(settings: Settings, count: usize) -> Result<ExitCode, String> {
    let resolved = crate::database::open(&settings).await?;
    let keys = KeyMaterial::load(&settings.keys_dir(), settings.generate_keys).map_err(|e| format!("keys: {e}"))?;
    let keyring = licentia_crypto::KeyRing::load(&settings.master_keys_dir(), settings.generate_keys).map_err(|e| format!("master keys: {e}"))?;
    let state = AppState::new(resolved.db.clone(), &keys, keyring, settings.blob_store()?, settings.web())?;
    licentia_train::device(&settings.training_device).map_err(|e| format!("training_device: {e}"))?;
    let (stop, rx) = tokio::sync::watch::channel(false);
    let host = hostname();
    let handles: Vec<_> = (0..count.max(1))
        .map(|i| {
            tokio::spawn(licentia_app::worker::serve(
                state.clone(),
                licentia_app::worker::WorkerConfig::named(format!("{host}:{}:worker-{i}", std::process::id()))
                    .on(&settings.training_device)
                    .lease(settings.training_lease_seconds)
                    .capped_at(Duration::from_secs(settings.max_run_seconds))
                    .per_organisation(settings.max_runs_per_org)
                    .in_region(settings.worker_region.clone()),
                rx.clone(),
            ))
        })
        .collect();
    // E-mail goes out from wherever workers run (several senders never send one message twice).
    let mailer = settings.mailer()?.map(|m| tokio::spawn(licentia_app::mail::serve(state.clone(), m, Duration::from_secs(30), rx.clone())));
    let hooks = tokio::spawn(licentia_app::webhooks::serve(state.clone(), Duration::from_secs(5), rx.clone()));
    println!("licentia worker: {} training worker(s) running", count.max(1));
    wait_for_signal().await;
    let _ = stop.send(true);
    for h in handles.into_iter().chain(mailer).chain([hooks]) {
        let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
    }
    resolved.db.pool.close().await;
    if let Some(pg) = &resolved.embedded {
        pg.stop();
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
