import StreamAdaptCore
import Testing

@testable import StreamAdaptDaemon

/// The state topic's record format and the choice of snapshot to restore (no Kafka: records fed in log
/// order as a partition holds them).
@Suite struct StateSnapshotTests {
    static func bytes(_ count: Int, seed: UInt8) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) &+ seed } }

    /// Feeds `records` (values) to a reader of partition 2.
    static func read(_ values: [[UInt8]], keep: Int = 3) -> StateSnapshotReader {
        var reader = StateSnapshotReader(partition: 2, keep: keep)
        for value in values { value.withUnsafeBytes { reader.take($0) } }
        return reader
    }

    @Test func aSnapshotIsCutIntoChunksWithKeysPerSlotAndReadBackWhole() {
        let snapshot = StateSnapshot(partition: 2, epoch: 7, sequence: 5, bytes: Self.bytes(2500, seed: 1))
        let records = snapshot.records(chunkSize: 1000)
        #expect(records.map(\.key) == ["2#7#1#0", "2#7#1#1", "2#7#1#2"])
        #expect(records.map(\.value.count) == [1048, 1048, 548])
        #expect(Array(records[0].value.prefix(8)) == Array("SASTATE1".utf8))
        let reader = Self.read(records.map(\.value))
        #expect(reader.completeSnapshots == [snapshot])
        #expect(reader.highestEpoch == 7)
        #expect(reader.rejected == 0)
        // An empty state is one chunk.
        let empty = StateSnapshot(partition: 2, epoch: 1, sequence: 0, bytes: [])
        #expect(Self.read(empty.records().map(\.value)).completeSnapshots == [empty])
    }

    @Test func theNewestCompleteSnapshotOfTheHighestEpochComesFirst() {
        let a = StateSnapshot(partition: 2, epoch: 1, sequence: 0, bytes: Self.bytes(300, seed: 1))
        let b = StateSnapshot(partition: 2, epoch: 1, sequence: 1, bytes: Self.bytes(300, seed: 2))
        let c = StateSnapshot(partition: 2, epoch: 2, sequence: 0, bytes: Self.bytes(300, seed: 3))
        let values = [a, b, c].flatMap { $0.records(chunkSize: 100).map(\.value) }
        let reader = Self.read(values, keep: 4)
        #expect(reader.completeSnapshots == [c, b, a])
        #expect(reader.highestEpoch == 2)
        #expect(reader.fenced == 0)
    }

    /// A former owner of epoch 1 writes after its successor claimed epoch 2 (before the successor wrote
    /// any snapshot): its records are fenced, the last snapshot written before the claim stays the newest.
    @Test func recordsOfAnOlderEpochAfterANewerClaimAreFenced() {
        let before = StateSnapshot(partition: 2, epoch: 1, sequence: 4, bytes: Self.bytes(300, seed: 1))
        let zombie = StateSnapshot(partition: 2, epoch: 1, sequence: 5, bytes: Self.bytes(300, seed: 2))
        let values = before.records(chunkSize: 100).map(\.value) + [StateSnapshot.claim(partition: 2, epoch: 2).value]
            + zombie.records(chunkSize: 100).map(\.value)
        let reader = Self.read(values)
        #expect(reader.completeSnapshots == [before])
        #expect(reader.fenced == 3)
        #expect(reader.highestEpoch == 2)
    }

    @Test func aDamagedOrMissingChunkMakesItsSnapshotIncompleteAndTheOneBeforeIsUsed() {
        let old = StateSnapshot(partition: 2, epoch: 3, sequence: 0, bytes: Self.bytes(250, seed: 1))
        let new = StateSnapshot(partition: 2, epoch: 3, sequence: 1, bytes: Self.bytes(250, seed: 2))
        var damaged = new.records(chunkSize: 100).map(\.value)
        damaged[1][60] ^= 0x10  // one bit of the second chunk's data: its CRC no longer matches
        let reader = Self.read(old.records(chunkSize: 100).map(\.value) + damaged)
        #expect(reader.completeSnapshots == [old])
        #expect(reader.damagedCount == 1 && reader.tornCount == 0 && reader.corrupt == 1)
        // A bit of a header (the sequence) is covered by the CRC too.
        var header = new.records(chunkSize: 100).map(\.value)
        header[0][20] ^= 0x01
        let headerReader = Self.read(old.records(chunkSize: 100).map(\.value) + header)
        #expect(headerReader.completeSnapshots == [old])
        #expect(headerReader.corrupt == 1)  // its fields not trusted: it joins no snapshot
        #expect(headerReader.damagedCount == 1)  // sequence 1 without its chunk 0
        // The last chunk never written (a crash while writing): torn, as if never written.
        let torn = new.records(chunkSize: 100).map(\.value).dropLast()
        let tornReader = Self.read(old.records(chunkSize: 100).map(\.value) + torn)
        #expect(tornReader.completeSnapshots == [old])
        #expect(tornReader.tornCount == 1 && tornReader.damagedCount == 0)
        // Its first chunks lost (retention evicts the oldest records first): damaged.
        let headless = Self.read(Array(new.records(chunkSize: 100).map(\.value).dropFirst()))
        #expect(headless.completeSnapshots.isEmpty)
        #expect(headless.damagedCount == 1 && headless.tornCount == 0)
    }

    @Test func malformedRecordsAndOtherPartitionsAreRejectedWithoutEffect() {
        let good = StateSnapshot(partition: 2, epoch: 1, sequence: 0, bytes: Self.bytes(50, seed: 1))
        var header = good.records()[0].value
        var wrongCount = header
        wrongCount[32] = 0  // chunk count 0
        var hugeTotal = header
        hugeTotal[43] = 0xFF  // claims more than the reader allows
        header[0] = UInt8(ascii: "X")
        let other = StateSnapshot(partition: 3, epoch: 9, sequence: 0, bytes: Self.bytes(50, seed: 2))
        let reader = Self.read([[], [1, 2, 3], header, wrongCount, hugeTotal] + other.records().map(\.value) + good.records().map(\.value))
        #expect(reader.completeSnapshots == [good])
        #expect(reader.rejected == 5)  // the short one, bad magic, count 0, huge total, other partition
        #expect(reader.read == 7)
        #expect(reader.highestEpoch == 1)  // the other partition's epoch 9 does not count
    }

    @Test func onlyTheNewestSnapshotsAreHeldAndTheNewestCompleteAlways() {
        let snapshots = (0..<10).map { StateSnapshot(partition: 2, epoch: 1, sequence: UInt64($0), bytes: Self.bytes(100, seed: UInt8($0))) }
        let reader = Self.read(snapshots.flatMap { $0.records(chunkSize: 30).map(\.value) }, keep: 3)
        #expect(reader.completeSnapshots == Array(snapshots.suffix(3).reversed()))
        // Three unfinished writes after a complete snapshot do not evict it.
        let torn = (10..<13).flatMap { s in
            StateSnapshot(partition: 2, epoch: 1, sequence: UInt64(s), bytes: Self.bytes(100, seed: 0)).records(chunkSize: 30).map(\.value).prefix(2)
        }
        let withTorn = Self.read(snapshots[0].records(chunkSize: 30).map(\.value) + torn, keep: 3)
        #expect(withTorn.completeSnapshots == [snapshots[0]])
        #expect(withTorn.tornCount == 2)
    }

    /// A claim raises the epoch a new owner takes, and is not a snapshot.
    @Test func aClaimCarriesAnEpochAndNoState() {
        let snapshot = StateSnapshot(partition: 2, epoch: 1, sequence: 0, bytes: Self.bytes(40, seed: 1))
        let claim = StateSnapshot.claim(partition: 2, epoch: 4)
        #expect(claim.key == "2#4#claim")
        #expect(claim.value.count == 48)
        var withBytes = claim.value + [1, 2]
        withBytes[44...47] = [0, 0, 0, 0]  // whatever the CRC: a claim with bytes is malformed
        let reader = Self.read(snapshot.records().map(\.value) + [claim.value, withBytes])
        #expect(reader.highestEpoch == 4)
        #expect(reader.completeSnapshots == [snapshot])
        #expect(reader.chunkRecords == 1)
        #expect(reader.rejected == 1)
        let onlyClaims = Self.read([claim.value])
        #expect(onlyClaims.highestEpoch == 4)
        #expect(onlyClaims.completeSnapshots.isEmpty)
        #expect(onlyClaims.chunkRecords == 0)
    }

    /// The keys a new owner tombstones: those of earlier epochs, minus the ones already tombstoned.
    @Test func keysBelowAnEpochAreThoseOfEarlierRecordsStillThere() {
        let one = StateSnapshot(partition: 2, epoch: 1, sequence: 0, bytes: Self.bytes(150, seed: 1))
        let two = StateSnapshot(partition: 2, epoch: 2, sequence: 0, bytes: Self.bytes(150, seed: 2))
        let claim = StateSnapshot.claim(partition: 2, epoch: 3)
        var reader = StateSnapshotReader(partition: 2)
        for record in one.records(chunkSize: 100) + [StateSnapshot.claim(partition: 2, epoch: 2)] + two.records(chunkSize: 100) + [claim] {
            record.value.withUnsafeBytes { value in Array(record.key.utf8).withUnsafeBytes { reader.take(value, key: $0) } }
        }
        // A tombstone of one key (a previous owner's clean-up).
        Array("2#1#0#1".utf8).withUnsafeBytes { reader.take(UnsafeRawBufferPointer(start: nil, count: 0), key: $0) }
        #expect(reader.keys(below: 3) == ["2#1#0#0", "2#2#0#0", "2#2#0#1", "2#2#claim"])
        #expect(reader.keys(below: 2) == ["2#1#0#0"])
    }
}
