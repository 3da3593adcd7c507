import NIOCore
import NIOPosix

/// Forwards TCP connections from a listening address to a target address, on swift-nio: it gives the
/// embedded broker a well-known bootstrap port (librdkafka 2.0's mock cluster only binds ephemeral
/// ports). Clients bootstrap through it; the metadata they receive then names the mock broker's own
/// port, which they connect to directly.
///
/// Each accepted connection gets a connection to the target on the same event loop, and a pair of
/// ``GlueHandler``s relays bytes both ways with back-pressure (a side is read only while the other side
/// is writable); half-closes are passed on, and either side closing closes both. A development tool,
/// not a production proxy.
public final class PortForwarder: Sendable {
    private let channel: any Channel
    /// The port it listens on (the one chosen by the kernel when started with port 0).
    public let port: Int

    private init(channel: any Channel, port: Int) {
        self.channel = channel
        self.port = port
    }

    /// Listens on `host:port` (port 0: any free port) and forwards every connection to
    /// `targetHost:targetPort`.
    /// - Throws: the bind error (e.g. the port is in use), naming the address.
    public static func start(
        host: String = "127.0.0.1", port: Int, targetHost: String = "127.0.0.1", targetPort: Int,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> PortForwarder {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            // Nothing is read from a client before its target connection is glued to it.
            .childChannelOption(ChannelOptions.autoRead, value: false)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { inbound in
                ClientBootstrap(group: inbound.eventLoop)
                    .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                    .connect(host: targetHost, port: targetPort)
                    .flatMap { outbound in
                        // Both channels are on inbound.eventLoop, where this runs.
                        let (a, b) = GlueHandler.matchedPair()
                        do {
                            try inbound.pipeline.syncOperations.addHandler(a)
                            try outbound.pipeline.syncOperations.addHandler(b)
                        } catch {
                            outbound.close(promise: nil)
                            return inbound.eventLoop.makeFailedFuture(error)
                        }
                        return inbound.setOption(ChannelOptions.autoRead, value: true)
                    }
            }
        do {
            let channel = try await bootstrap.bind(host: host, port: port).get()
            return PortForwarder(channel: channel, port: channel.localAddress?.port ?? port)
        } catch {
            throw PortForwarderError(message: "cannot listen on \(host):\(port): \(error)")
        }
    }

    /// Stops listening (connections already forwarded run until either side closes).
    public func stop() async {
        try? await channel.close()
    }
}

public struct PortForwarderError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}
