//! Export control: assets' classifications and the permits recorded on agreements.

use chrono::{DateTime, NaiveDate, Utc};
use licentia_domain::export::{Classification, Permit};
use licentia_domain::{AgreementId, AssetId, UserId};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::DbError;

#[derive(sqlx::FromRow)]
struct ClassRow {
    asset_id: AssetId,
    regime: String,
    code: String,
}

fn decode(rows: Vec<ClassRow>) -> Result<Vec<(AssetId, Classification)>, DbError> {
    rows.into_iter()
        .map(|r| Classification::parse(&r.regime, &r.code).map(|c| (r.asset_id, c)).map_err(|e| DbError::Other(sqlx::Error::Decode(e.to_string().into()))))
        .collect()
}

/// Replaces an asset's classifications with `set`.
pub async fn set_classifications(conn: &mut PgConnection, asset: AssetId, set: &[Classification], by: UserId) -> Result<(), DbError> {
    sqlx::query("DELETE FROM export_classifications WHERE asset_id = $1").bind(asset).execute(&mut *conn).await?;
    let regimes: Vec<&str> = set.iter().map(|c| c.regime.as_str()).collect();
    let codes: Vec<&str> = set.iter().map(|c| c.code.as_str()).collect();
    sqlx::query("INSERT INTO export_classifications (asset_id, regime, code, created_by) SELECT $1, r, c, $4 FROM unnest($2::text[], $3::text[]) AS t(r, c)")
        .bind(asset)
        .bind(&regimes)
        .bind(&codes)
        .bind(by)
        .execute(conn)
        .await?;
    Ok(())
}

/// The classifications of `assets`, in a stable order.
pub async fn classifications(conn: &mut PgConnection, assets: &[AssetId]) -> Result<Vec<(AssetId, Classification)>, DbError> {
    let rows: Vec<ClassRow> =
        sqlx::query_as("SELECT asset_id, regime, code FROM export_classifications WHERE asset_id = ANY($1) ORDER BY asset_id, regime, code")
            .bind(assets)
            .fetch_all(conn)
            .await?;
    decode(rows)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PermitRow {
    pub id: Uuid,
    pub agreement_id: AgreementId,
    #[serde(flatten)]
    pub permit: Permit,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct RawPermit {
    id: Uuid,
    agreement_id: AgreementId,
    reference: String,
    authority: String,
    countries: Vec<String>,
    assets: Vec<Uuid>,
    valid_from: NaiveDate,
    valid_until: NaiveDate,
    created_at: DateTime<Utc>,
}

impl From<RawPermit> for PermitRow {
    fn from(r: RawPermit) -> Self {
        PermitRow {
            id: r.id,
            agreement_id: r.agreement_id,
            permit: Permit {
                reference: r.reference,
                authority: r.authority,
                countries: r.countries.into_iter().collect(),
                assets: r.assets.into_iter().map(AssetId::from_uuid).collect(),
                valid_from: r.valid_from,
                valid_until: r.valid_until,
            },
            created_at: r.created_at,
        }
    }
}

pub async fn insert_permit(conn: &mut PgConnection, agreement: AgreementId, p: &Permit, by: UserId) -> Result<PermitRow, DbError> {
    let countries: Vec<&str> = p.countries.iter().map(String::as_str).collect();
    let assets: Vec<Uuid> = p.assets.iter().map(|a| a.as_uuid()).collect();
    let raw: RawPermit = sqlx::query_as(
        "INSERT INTO export_permits (id, agreement_id, reference, authority, countries, assets, valid_from, valid_until, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING id, agreement_id, reference, authority, countries, assets, valid_from, valid_until, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(agreement)
    .bind(&p.reference)
    .bind(&p.authority)
    .bind(&countries)
    .bind(&assets)
    .bind(p.valid_from)
    .bind(p.valid_until)
    .bind(by)
    .fetch_one(conn)
    .await?;
    Ok(raw.into())
}

/// The permits recorded on `agreements`, oldest first.
pub async fn permits(conn: &mut PgConnection, agreements: &[AgreementId]) -> Result<Vec<PermitRow>, DbError> {
    let rows: Vec<RawPermit> = sqlx::query_as(
        "SELECT id, agreement_id, reference, authority, countries, assets, valid_from, valid_until, created_at
         FROM export_permits WHERE agreement_id = ANY($1) ORDER BY created_at, id",
    )
    .bind(agreements)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(PermitRow::from).collect())
}
