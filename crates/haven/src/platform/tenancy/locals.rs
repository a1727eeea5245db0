//! What a module keeps per organisation while Haven runs (a batcher bound to the
//! organisation's pool, say), without the platform naming the module: one value per
//! type, made on first use and kept for as long as the organisation is served.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

type Value = Arc<dyn Any + Send + Sync>;

#[derive(Default)]
pub struct TenantLocals(Mutex<HashMap<TypeId, Value>>);

impl TenantLocals {
    /// The organisation's `T`, made by `make` the first time it is asked for.
    pub fn get_or_insert_with<T: Any + Send + Sync>(&self, make: impl FnOnce() -> T) -> Arc<T> {
        let mut values = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = values
            .get(&TypeId::of::<T>())
            .and_then(|value| Arc::clone(value).downcast::<T>().ok())
        {
            return value;
        }
        let value = Arc::new(make());
        values.insert(TypeId::of::<T>(), Arc::clone(&value) as Value);
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_is_made_once_and_kept() {
        let locals = TenantLocals::default();
        let first = locals.get_or_insert_with(|| 7_u32);
        let again = locals.get_or_insert_with(|| 8_u32);
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(*again, 7);
        assert_eq!(*locals.get_or_insert_with(|| String::from("other")), "other");
    }
}
