//! Encryption at rest against a real database: values sealed under a tenant's data key,
//! the master key checked at start-up.

use base64::Engine as _;
use haven::app::Application;
use haven::compliance::sealing::{MasterKey, SealError, Vault};
use haven::platform::database::DatabaseServer;

use crate::support::TestApp;

fn key(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

#[tokio::test]
async fn sealed_values_open_under_their_key_and_a_wrong_master_key_stops_the_start() {
    let app = TestApp::spawn_with(|c| c.master_key = Some(haven::config::Secret::new(key(1)))).await;
    let tenant = app.tenant("default");
    let ring = app.state.vault.keyring(tenant.database.as_str());
    let now = app.state.clock.now();
    let sealed = ring
        .seal(&tenant.pool, b"MARKER-plum-umbrella", "note.body:1", now)
        .await
        .unwrap();
    assert_eq!(
        ring.open(&tenant.pool, &sealed, "note.body:1")
            .await
            .unwrap()
            .as_slice(),
        b"MARKER-plum-umbrella"
    );
    assert!(matches!(
        ring.open(&tenant.pool, &sealed, "note.body:2").await,
        Err(SealError::Damaged)
    ));
    // The database holds the data key only wrapped.
    let mut db = app.superuser("default").await;
    let wrapped: Vec<u8> = sqlx::query_scalar("SELECT wrapped FROM data_keys")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(wrapped.len(), 1 + 4 + 24 + 32 + 16);

    // Another master key cannot open it, and Haven refuses to start with it.
    let other = Vault::new(MasterKey::from_base64(&key(2)).unwrap());
    assert!(matches!(
        other.keyring(tenant.database.as_str()).verify(&tenant.pool).await,
        Err(SealError::WrongMasterKey)
    ));
    let mut config = app.config.clone();
    config.master_key = Some(haven::config::Secret::new(key(2)));
    let server = DatabaseServer::from_url(config.database_url.as_ref().unwrap().expose()).unwrap();
    let Err(refused) = Application::build(config, server).await else {
        panic!("started with the wrong master key");
    };
    let message = format!("{refused:#}");
    assert!(message.contains("the master key does not open"), "{message}");
}
