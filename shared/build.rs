//! `sqlx::migrate!` embeds `migrations/` at compile time, but cargo only rebuilds this crate
//! when a file it already knows changes: a migration added later (a merge, a new branch) was
//! silently missing from a cached build. Watching the directory rebuilds on any change there.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
