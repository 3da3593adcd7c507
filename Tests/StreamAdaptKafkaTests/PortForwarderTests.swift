import NIOCore
import NIOPosix
import Testing

@testable import StreamAdaptKafka
import StreamAdaptPortForwarder

/// The NIO port forwarder: bytes both ways, end of stream passed on, and the embedded broker reachable
/// through it.
@Suite(.serialized) struct PortForwarderTests {
    /// Echoes what it reads; closes after the peer's end of stream.
    final class EchoHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.writeAndFlush(data, promise: nil)
        }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? ChannelEvent, case .inputClosed = event { context.close(promise: nil) }
        }
    }

    /// Collects what it reads until the channel closes.
    final class Collector: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked: only touched on the channel's event loop, and read after `closed` completed.
        typealias InboundIn = ByteBuffer
        var bytes: [UInt8] = []
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            bytes += buffer.readBytes(length: buffer.readableBytes) ?? []
        }
    }

    @Test func relaysBytesBothWaysAndPassesEndOfStreamOn() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let echo = try await ServerBootstrap(group: group)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { $0.pipeline.addHandler(EchoHandler()) }
            .bind(host: "127.0.0.1", port: 0).get()
        let forwarder = try await PortForwarder.start(port: 0, targetPort: echo.localAddress!.port!)
        #expect(forwarder.port > 0)

        let collector = Collector()
        let client = try await ClientBootstrap(group: group)
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .channelInitializer { $0.pipeline.addHandler(collector) }
            .connect(host: "127.0.0.1", port: forwarder.port).get()
        // 4 MiB of a pattern: more than the socket buffers hold, so back-pressure is exercised.
        let sent = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 13) }
        for start in stride(from: 0, to: sent.count, by: 1 << 16) {
            try await client.writeAndFlush(ByteBuffer(bytes: sent[start..<min(sent.count, start + (1 << 16))]))
        }
        try await client.close(mode: .output)  // end of stream: the echo server closes, and so do we
        try await client.closeFuture.get()
        let received = try await client.eventLoop.submit { collector.bytes }.get()
        #expect(received.count == sent.count)
        #expect(received == sent)
        await forwarder.stop()
        try await echo.close()
    }

    @Test func brokerIsReachableThroughTheForwarder() async throws {
        let broker = try EmbeddedBroker()
        try broker.createTopic("fwd", partitions: 2)
        let target = try #require(broker.bootstrapServers.split(separator: ":").last.flatMap { Int($0) })
        let forwarder = try await PortForwarder.start(port: 0, targetPort: target)
        let bootstrap = "127.0.0.1:\(forwarder.port)"
        // librdkafka blocks: off the cooperative pool.
        let (partitions, values, events) = try await onThread { () throws -> ([Int32], [String], Int) in
            let producer = try KafkaProducer(configuration: testProperties(bootstrap))
            try producer.send("fwd", partition: 1, key: "k", value: Array("through the forwarder".utf8))
            guard try producer.flush(until: .timeout(.seconds(10))) == 0 else { return ([], [], -1) }
            let consumer = try KafkaConsumer(configuration: testProperties(bootstrap))
            let partitions = try consumer.partitions(of: "fwd")
            try consumer.assign([("fwd", 1, nil)])
            let (messages, events) = try consumer.collect(1)
            return (partitions, messages.map { String(decoding: $0.value, as: UTF8.self) }, events.count)
        }
        #expect(partitions == [0, 1])
        #expect(values == ["through the forwarder"])
        #expect(events == 0)
        await forwarder.stop()
        withExtendedLifetime(broker) {}
    }

    @Test func portInUseIsAnErrorNamingIt() async throws {
        let first = try await PortForwarder.start(port: 0, targetPort: 1)
        await #expect(throws: PortForwarderError.self) {
            _ = try await PortForwarder.start(port: first.port, targetPort: 1)
        }
        do {
            _ = try await PortForwarder.start(port: first.port, targetPort: 1)
        } catch let error as PortForwarderError {
            #expect(error.message.hasPrefix("cannot listen on 127.0.0.1:\(first.port): "))
        }
        await first.stop()
    }
}
