// `sqlx::migrate!` embeds the migrations at compile time, and Cargo cannot see
// that it reads them: without this, a new migration file is left out of the
// build until some source file changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
