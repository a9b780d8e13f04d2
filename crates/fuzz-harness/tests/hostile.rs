//! The hostile inputs of the audit, refused or handled at a cost bounded per input byte
//! (measured by allocation, which is deterministic), and every committed seed passing its
//! target's oracles on a server-sized stack.

use std::mem::size_of;
use std::path::Path;

use fuzz_harness::alloc_count::{measure, CountingAllocator};
use fuzz_harness::seeds;
use fuzz_harness::targets::{self, TARGETS};
use rivetkit_protocol::{cbor, Encoding, ProtocolError, ToServer, Value};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn the_cbor_bomb_is_refused_for_a_few_kilobytes() {
    let bomb = seeds::cbor_bomb();
    assert_eq!(bomb.len(), 69);
    let (result, allocation) = measure(|| cbor::decode(&bomb));
    assert!(matches!(result, Err(ProtocolError::Cbor(_))), "{result:?}");
    assert!(allocation.total < 64 * 1024, "{allocation:?}");
}

#[test]
fn nested_forged_lengths_preallocate_at_most_twice_the_input() {
    // 128 nested arrays (maps) each declaring 2³² - 1 entries, then 4 KiB of zeros: each alone
    // could claim every byte left, and together they once reserved 128 times the input.
    for head in [0x9a, 0xba] {
        let input = seeds::nested_forged_lengths(128, head);
        let (result, allocation) = measure(|| cbor::decode(&input));
        assert!(
            matches!(result, Err(ProtocolError::UnexpectedEof)),
            "{result:?}"
        );
        // A map entry (hash, key, value) is at most 2 values wide, and is promised 2 bytes.
        let bound = 2 * input.len() * 2 * size_of::<Value>();
        assert!(
            allocation.total <= bound,
            "{head:#x}: {allocation:?} > {bound}"
        );
    }
}

#[test]
fn oversized_bignums_are_refused_before_conversion() {
    let mut input = vec![0xc2, 0x5a];
    input.extend_from_slice(&(1u32 << 20).to_be_bytes());
    input.extend(std::iter::repeat_n(0xff, 1 << 20));
    let (result, allocation) = measure(|| cbor::decode(&input));
    assert!(matches!(result, Err(ProtocolError::Cbor(_))), "{result:?}");
    assert!(allocation.total < 64 * 1024, "{allocation:?}");
}

#[test]
fn forged_bare_lengths_allocate_nothing_for_the_missing_bytes() {
    // ActionRequest v3, id 1, a name claiming 2⁶⁴ - 1 bytes.
    let mut input = vec![3, 0, 0x00, 0x01];
    input.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    let (result, allocation) = measure(|| ToServer::decode(&input, Encoding::Bare));
    assert!(
        matches!(result, Err(ProtocolError::UnexpectedEof)),
        "{result:?}"
    );
    assert!(allocation.total < 4 * 1024, "{allocation:?}");
}

#[test]
fn every_seed_passes_its_target_on_a_tokio_sized_stack() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let checked = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let mut checked = 0;
            for (name, target) in TARGETS {
                let dir = corpus.join(name);
                for entry in std::fs::read_dir(&dir).expect("the committed corpus") {
                    let input = std::fs::read(entry.unwrap().path()).unwrap();
                    target(&input);
                    checked += 1;
                }
            }
            checked
        })
        .unwrap()
        .join()
        .expect("no seed fails its target");
    assert!(checked >= TARGETS.len(), "{checked} seeds");
    assert!(targets::worst_bytes_per_input_byte() <= targets::BYTES_PER_INPUT_BYTE);
}

#[test]
fn the_committed_corpus_holds_every_generated_seed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let missing: Vec<String> = seeds::all(&root.join("../../spec/vectors"))
        .unwrap()
        .into_iter()
        .filter(|seed| {
            let dir = root.join("corpus").join(&seed.target);
            !std::fs::read_dir(dir).is_ok_and(|entries| {
                entries
                    .flatten()
                    .any(|entry| std::fs::read(entry.path()).is_ok_and(|bytes| bytes == seed.bytes))
            })
        })
        .map(|seed| seed.target)
        .collect();
    assert!(
        missing.is_empty(),
        "seeds not in corpus/ (run `cargo run -p fuzz-harness -- write-seeds`): {missing:?}"
    );
}
