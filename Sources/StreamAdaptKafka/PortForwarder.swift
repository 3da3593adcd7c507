import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Forwards TCP connections from a fixed loopback port to another address: it gives the embedded
/// broker a well-known bootstrap port (librdkafka 2.0's mock cluster only binds ephemeral ports).
/// Clients bootstrap through it; the metadata they receive then names the mock broker's own port,
/// which they connect to directly.
///
/// One accept thread, and one relay thread per connection (poll(2) on both sockets, which it closes
/// when either side is done); blocking POSIX sockets. A development tool, not a production proxy.
public final class PortForwarder: Sendable {
    private let listener: Int32
    private let targetPort: UInt16
    private let stopped = Atomic<Bool>(false)

    /// Listens on 127.0.0.1:`port` and forwards every connection to 127.0.0.1:`targetPort`.
    public init(port: UInt16, targetPort: UInt16) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw KafkaError("socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw KafkaError("cannot listen on 127.0.0.1:\(port): \(message)")
        }
        listener = fd
        self.targetPort = targetPort
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "port-forwarder"
        thread.start()
    }

    public func stop() {
        stopped.store(true, ordering: .relaxed)
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while !stopped.load(ordering: .relaxed) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else {
                if errno == EINTR { continue }
                return
            }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = targetPort.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard upstream >= 0, connected == 0 else {
                close(client)
                if upstream >= 0 { close(upstream) }
                continue
            }
            Thread { PortForwarder.relay(client, upstream) }.start()
        }
    }

    /// Copies bytes both ways until either side closes or fails, then closes both sockets (only this
    /// thread owns them, so a descriptor number is never closed twice). Writes use MSG_NOSIGNAL: a peer
    /// that went away is an error return, not a SIGPIPE that would end the process.
    private static func relay(_ a: Int32, _ b: Int32) {
        defer {
            close(a)
            close(b)
        }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var fds = [pollfd(fd: a, events: Int16(POLLIN), revents: 0), pollfd(fd: b, events: Int16(POLLIN), revents: 0)]
        while true {
            if poll(&fds, 2, -1) < 0 {
                if errno == EINTR { continue }
                return
            }
            for i in 0..<2 where fds[i].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }
                var sent = 0
                while sent < n {
                    let m = buffer.withUnsafeBytes { send(fds[1 - i].fd, $0.baseAddress! + sent, n - sent, Int32(MSG_NOSIGNAL)) }
                    if m < 0 && errno == EINTR { continue }
                    guard m > 0 else { return }
                    sent += m
                }
            }
        }
    }
}
