fn main() {
    eprintln!("lacework-emulator: not written yet");
    std::process::exit(2);
}
