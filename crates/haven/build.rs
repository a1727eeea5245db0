//! The migrations are embedded by `sqlx::migrate!`, which cannot ask Cargo to watch a
//! folder on stable Rust: without this, a new migration would not rebuild Haven.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
