//! Checks that the harness still reaches the code it is meant to fuzz: if the catalogue or the
//! fixtures change so that the seeds stop parsing or every command is rejected, the fuzz targets
//! would run green while testing nothing. Run with `cargo test --manifest-path fuzz/Cargo.toml`.

use samverkan_fuzz::{NOW, World, commands};

#[test]
fn every_unchanged_template_is_a_command_and_many_are_accepted_and_previewed() {
    let templates = 843 + ledger::EventData::TYPES.len();
    let (mut parsed, mut accepted, mut previewed) = (0, 0, 0);
    for index in 0..templates {
        let [hi, lo] = (index as u16).to_be_bytes();
        let Some(command) = commands(&[0, hi, lo]).pop() else { continue };
        parsed += 1;
        let world = World::seeded();
        accepted += usize::from(world.validate(&command.event, NOW).is_ok());
        previewed += usize::from(world.preview(&[&command.event]).is_some_and(|p| p[0].is_some()));
    }
    assert_eq!(parsed, templates, "every template parses unchanged");
    assert!(accepted >= 300, "only {accepted} of {templates} templates are accepted as new commands");
    // The golden EventRetracted retracts an event the fixtures do not have: the ledger refuses it.
    assert_eq!(previewed, templates - 1, "every other command previews as a new event");
    eprintln!("{parsed} commands, {accepted} accepted, {previewed} previewed");
}

#[test]
fn the_fixture_file_imports_into_the_empty_world_and_is_already_stored_in_the_seeded_one() {
    let lines = ledger::jsonl::read_lines(samverkan_fuzz::HISTORY.as_bytes(), &mut |_| {}).expect("fixtures parse");
    let (stored, accepted) = World::empty().check_import(lines.clone()).expect("the ledger takes the fixtures");
    assert!(accepted, "the rules accept the fixtures");
    assert_eq!(stored.len(), lines.len());
    let (again, accepted) = World::seeded().check_import(lines).expect("a repeated import is idempotent");
    assert!(accepted && again.is_empty());
}
