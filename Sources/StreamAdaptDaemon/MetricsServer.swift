#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// A small HTTP server for `/metrics` (Prometheus text format), `/healthz` and `/readyz`; with a
/// ``DashboardFeed``, also the live page at `/` and its document at `/api/state` (docs/dashboard.md).
public final class MetricsServer: Sendable {
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    /// The bound port (useful when started on port 0).
    public let port: Int

    /// Binds `host:port` and serves until ``shutdown()``.
    /// - Throws: ``MetricsServerError`` naming `host:port` when it cannot listen there (port in use,
    ///   host not local or not resolvable).
    public init(
        host: String, port: Int, registry: PrometheusCollectorRegistry, health: HealthState, dashboard: DashboardFeed? = nil
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(EndpointHandler(registry: registry, health: health, dashboard: dashboard))
                }
            }
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch {
            try? await group.shutdownGracefully()
            throw MetricsServerError(host: host, port: port, error)
        }
        self.group = group
        self.port = channel.localAddress?.port ?? port
    }

    public func shutdown() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

/// The metrics endpoint cannot listen where it was told to.
public struct MetricsServerError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        /// Another process (or server) listens on the port.
        case addressInUse = "address-in-use"
        /// Any other reason: the host is not an address of this machine or cannot be resolved, the port
        /// needs privileges, ...
        case cannotListen = "cannot-listen"
    }

    public let code: Code
    public let host: String
    public let port: Int
    public let reason: String

    init(host: String, port: Int, _ error: any Error) {
        self.host = host
        self.port = port
        if let io = error as? IOError {
            code = io.errnoCode == EADDRINUSE ? .addressInUse : .cannotListen
            reason = String(cString: strerror(io.errnoCode))
        } else {
            code = .cannotListen
            reason = "\(error)"
        }
    }

    public var description: String {
        "metrics endpoint cannot listen on \(host):\(port) (metrics.host, metrics.port): \(reason)"
    }
}

private final class EndpointHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let registry: PrometheusCollectorRegistry
    let health: HealthState
    let dashboard: DashboardFeed?

    init(registry: PrometheusCollectorRegistry, health: HealthState, dashboard: DashboardFeed?) {
        self.registry = registry
        self.health = health
        self.dashboard = dashboard
    }

    static let page = Array(DashboardPage.html.utf8)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data) else { return }
        let path = request.uri.split(separator: "?").first.map(String.init) ?? request.uri
        let (status, body, type): (HTTPResponseStatus, [UInt8], String)
        switch path {
        case "/metrics":
            (status, body, type) = (.ok, Array(registry.emitToString().utf8), "text/plain; version=0.0.4")
        case "/healthz":
            let stale = health.secondsSinceHeartbeat > 30
            (status, body, type) = (stale ? .serviceUnavailable : .ok, Array((stale ? "stalled\n" : "ok\n").utf8), "text/plain")
        case "/readyz":
            let ready = health.isReady
            (status, body, type) = (ready ? .ok : .serviceUnavailable, Array((ready ? "ready\n" : "not ready\n").utf8), "text/plain")
        case "/" where dashboard != nil, "/index.html" where dashboard != nil:
            (status, body, type) = (.ok, Self.page, "text/html; charset=utf-8")
        case "/api/state":
            if let dashboard {
                (status, body, type) = (.ok, dashboard.json, "application/json")
            } else {
                (status, body, type) = (.notFound, Array("no dashboard\n".utf8), "text/plain")
            }
        default:
            (status, body, type) = (.notFound, Array("not found\n".utf8), "text/plain")
        }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: type)
        headers.add(name: "content-length", value: String(body.count))
        headers.add(name: "cache-control", value: "no-store")
        headers.add(name: "connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
