//! Typed ids: one type per entity, so a note's id cannot be passed where a client's is
//! expected. Each module declares its ids with [`typed_id!`]; they serialise as the bare
//! UUID (JSON, paths, forms), are documented as `format: uuid` in the API document, and
//! bind to queries through `.0` or `as _`.

/// Declares a typed id: a `Copy` newtype over [`uuid::Uuid`] that serialises, parses,
/// prints and binds as the UUID itself.
#[macro_export]
macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, sqlx::Type, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        #[schema(value_type = uuid::Uuid, format = Uuid)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A fresh id, ordered by creation time (UUID v7).
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map(Self)
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(id: uuid::Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for uuid::Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        /// The id's text, allocated once at its final size (as an audit event's subject,
        /// a hundred at a time).
        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()).to_owned()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::typed_id!(
        /// An example.
        ExampleId
    );

    #[test]
    fn a_typed_id_reads_and_writes_as_its_uuid() {
        let id = ExampleId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", id.0));
        assert_eq!(serde_json::from_str::<ExampleId>(&json).unwrap(), id);
        assert_eq!(id.to_string().parse::<ExampleId>().unwrap(), id);
        assert_eq!(String::from(id), id.to_string());
        assert!("not-a-uuid".parse::<ExampleId>().is_err());
    }
}
