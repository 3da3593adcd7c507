import ArgumentParser
import Foundation
import ServiceLifecycle
import Logging
import StreamAdaptKafka
import StreamAdaptPortForwarder

/// `streamadapt broker`: the embedded Kafka broker (librdkafka's mock cluster) in the foreground.
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run an embedded Kafka broker (librdkafka mock cluster) on loopback until SIGINT/SIGTERM.",
        discussion: """
            Prints `bootstrap: HOST:PORT`. librdkafka 2.0's mock cluster binds ephemeral ports; with --port, \
            StreamAdapt forwards 127.0.0.1:PORT to it, so clients can bootstrap from a fixed address (they \
            then connect to the broker's own port, named in the metadata). Any Kafka client can connect. Topics are created with --topics; the \
            mock broker also auto-creates topics on first use. SIGUSR1 takes the brokers down (connections \
            closed, new ones refused) and SIGUSR2 brings them back up, to rehearse outages. The mock broker \
            keeps only about the last 5 MB of each partition.
            """
    )

    @Option(help: "A fixed bootstrap port on 127.0.0.1 (forwarded to the mock broker); default: the broker's own port.")
    var port: UInt16?

    @Option(help: "Comma-separated topics to create.")
    var topics = "embeddings,labels,predictions,drift-alerts,dead-letter"

    @Option(help: "Partitions per created topic.")
    var partitions: Int32 = 1

    @Option(help: "Number of brokers in the cluster.")
    var brokers: Int32 = 1

    @Option(help: "Also write the bootstrap address to this file (for scripts).")
    var bootstrapFile: String?

    func validate() throws {
        guard brokers >= 1 else { throw ValidationError("--brokers must be at least 1") }
        guard partitions >= 1 else { throw ValidationError("--partitions must be at least 1") }
    }

    func run() async throws {
        let broker = try EmbeddedBroker(brokers: brokers)
        for topic in topics.split(separator: ",").map(String.init) where !topic.isEmpty {
            try broker.createTopic(topic, partitions: partitions)
        }
        var address = broker.bootstrapServers
        var forwarder: PortForwarder?
        if let port {
            guard let first = address.split(separator: ",").first, let colon = first.lastIndex(of: ":"),
                let target = UInt16(first[first.index(after: colon)...])
            else { throw ValidationError("unexpected mock bootstrap address \(address)") }
            forwarder = try await PortForwarder.start(port: Int(port), targetPort: Int(target))
            address = "127.0.0.1:\(port)"
        }
        writeLine("bootstrap: \(address)")
        if let bootstrapFile { try address.write(toFile: bootstrapFile, atomically: true, encoding: .utf8) }
        signal(SIGUSR1, SIG_IGN)
        signal(SIGUSR2, SIG_IGN)
        let down = DispatchSource.makeSignalSource(signal: SIGUSR1)
        let up = DispatchSource.makeSignalSource(signal: SIGUSR2)
        let count = brokers
        down.setEventHandler { for id in 1...count { broker.setDown(broker: id) }; writeLine("brokers down") }
        up.setEventHandler { for id in 1...count { broker.setUp(broker: id) }; writeLine("brokers up") }
        down.resume()
        up.resume()
        let group = ServiceGroup(
            services: [BrokerService()], gracefulShutdownSignals: [.sigterm, .sigint],
            logger: Logger(label: "streamadapt.broker"))
        try await group.run()
        down.cancel()
        up.cancel()
        await forwarder?.stop()
        withExtendedLifetime(broker) {}  // the broker serves until the group has shut down
        writeLine("broker stopped")
    }
}

/// Waits for SIGTERM/SIGINT (the mock cluster serves on its own thread meanwhile).
struct BrokerService: Service {
    func run() async throws {
        try? await gracefulShutdown()
    }
}

/// Writes a line to standard output at once (unbuffered: `print` is block-buffered when the output is
/// a pipe, so a supervisor or a benchmark log would see it late).
func writeLine(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
