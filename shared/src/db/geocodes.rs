//! The `geocodes` table: addresses we resolved once, under our own key.

use sqlx::postgres::PgPool;

/// An address we resolved once, under our own key.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredGeocode {
    pub id: i64,
    pub lat: f64,
    pub lon: f64,
    pub provider: String,
    pub provider_place_id: String,
    pub display_name: String,
}

/// The key of the geocode store: trimmed, spaces collapsed, lower case.
pub fn normalise_address(address: &str) -> String {
    address
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Looks an address up in our own store.
pub async fn geocode_get(
    pool: &PgPool,
    address: &str,
) -> Result<Option<StoredGeocode>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, lat, lon, provider, provider_place_id, display_name FROM geocodes WHERE address_norm = $1",
    )
    .bind(normalise_address(address))
    .fetch_optional(pool)
    .await
}

/// Stores what a provider resolved. Our id stays the same when the provider's answer changes.
pub async fn geocode_put(
    pool: &PgPool,
    address: &str,
    lat: f64,
    lon: f64,
    provider: &str,
    provider_place_id: &str,
    display_name: &str,
) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        r#"
        INSERT INTO geocodes (address_norm, address, lat, lon, provider, provider_place_id, display_name)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (address_norm) DO UPDATE SET
            lat = EXCLUDED.lat, lon = EXCLUDED.lon, provider = EXCLUDED.provider,
            provider_place_id = EXCLUDED.provider_place_id, display_name = EXCLUDED.display_name,
            updated_at = now()
        RETURNING id
        "#,
    )
    .bind(normalise_address(address))
    .bind(address)
    .bind(lat)
    .bind(lon)
    .bind(provider)
    .bind(provider_place_id)
    .bind(display_name)
    .fetch_one(pool)
    .await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_normalise_to_one_key() {
        assert_eq!(normalise_address("  Seoul   STATION "), "seoul station");
    }
}
