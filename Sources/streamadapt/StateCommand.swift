import ArgumentParser
import Foundation
import StreamAdaptCore
import StreamAdaptDaemon
import StreamAdaptKafka

/// `streamadapt state`: what a group's state topic holds, partition by partition.
struct StateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "Show the snapshots on a group's state topic (topics.state), and export the newest of each partition.",
        discussion: """
            Prints one JSON line per partition: the highest epoch seen, the records read, rejected \
            (malformed), corrupt (CRC mismatch) and fenced (written by a former owner after its successor's claim), the torn \
            (unfinished) and damaged snapshots, and the complete snapshots held (newest first: epoch, \
            sequence, bytes). With --export, writes the \
            newest complete snapshot of each partition to DIR/partition-P.bin (a sealed checkpoint, the \
            format of checkpoint.bin). Reads only: nothing on the topic changes.
            """
    )

    @Option(help: "Kafka bootstrap servers (host:port[,host:port]).")
    var bootstrap: String

    @Option(help: "The state topic.")
    var topic: String

    @Option(help: "Write each partition's newest complete snapshot to this folder.")
    var export: String?

    @Option(help: "With --pipeline (model.mode shared): fold every partition's newest evidence into the shared model and write its kalman head to this file (a sealed checkpoint of the head alone).")
    var fold: String?

    @Option(help: "The pipeline file (for --fold).")
    var pipeline: String?

    func validate() throws {
        guard (fold == nil) == (pipeline == nil) else { throw ValidationError("--fold and --pipeline go together") }
    }

    func run() throws {
        let state = StateTopic(name: topic, properties: ["bootstrap.servers": bootstrap])
        let until = StopCondition.timeout(.seconds(30))
        if let export { try FileManager.default.createDirectory(atPath: export, withIntermediateDirectories: true) }
        var all: [Int32: [StateSnapshot]] = [:]
        for partition in try state.partitions(until: until).sorted() {
            let reader = try state.read(partition: partition, until: until)
            let snapshots = reader.completeSnapshots
            all[partition] = snapshots
            let listed = snapshots.map { "{\"epoch\":\($0.epoch),\"sequence\":\($0.sequence),\"bytes\":\($0.bytes.count)}" }
            writeLine(
                "{\"partition\":\(partition),\"highest_epoch\":\(reader.highestEpoch.map(String.init) ?? "null"),\"records\":\(reader.read),\"rejected\":\(reader.rejected),\"corrupt\":\(reader.corrupt),\"fenced\":\(reader.fenced),\"torn\":\(reader.tornCount),\"damaged\":\(reader.damagedCount),\"snapshots\":[\(listed.joined(separator: ","))]}")
            if let export, let newest = snapshots.first {
                try Data(newest.bytes).write(to: URL(fileURLWithPath: export).appendingPathComponent("partition-\(partition).bin"))
            }
        }
        if let fold, let pipeline {
            let configuration = try PipelineConfiguration.load(path: pipeline)
            let shared = try SharedModelFold(configuration: configuration, snapshots: all)
            var writer = CheckpointWriter()
            shared.head.save(to: &writer)
            try Data(Checkpoint.seal(payload: writer.bytes)).write(to: URL(fileURLWithPath: fold))
            let sources = shared.sources.sorted { $0.key < $1.key }.map { "\"\($0.key)\":{\"epoch\":\($0.value.epoch),\"sequence\":\($0.value.sequence)}" }
            writeLine("{\"fold\":{\"events\":\(shared.events),\"partitions\":{\(sources.joined(separator: ","))},\"file\":\"\(fold)\"}}")
        }
    }
}
