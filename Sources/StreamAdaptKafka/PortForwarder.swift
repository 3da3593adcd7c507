import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Forwards TCP connections from a fixed loopback port to another address: it gives the embedded
/// broker a well-known bootstrap port (librdkafka 2.0's mock cluster only binds ephemeral ports).
/// Clients bootstrap through it; the metadata they receive then names the mock broker's own port,
/// which they connect to directly.
///
/// One accept thread, and two copy threads per connection; blocking POSIX sockets. A development tool,
/// not a production proxy.
public final class PortForwarder: @unchecked Sendable {
    // @unchecked Sendable: `listener` is set once in init and only read afterwards; `stopped` is only
    // written by stop() and read by the accept thread, where a stale read just delays the exit until
    // the listening socket is closed, which makes accept() fail.
    private let listener: Int32
    private let targetPort: UInt16
    private var stopped = false
    public let port: UInt16

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
        self.port = port
        self.targetPort = targetPort
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "port-forwarder"
        thread.start()
    }

    public func stop() {
        stopped = true
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while !stopped {
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
            Thread { PortForwarder.copy(from: client, to: upstream) }.start()
            Thread { PortForwarder.copy(from: upstream, to: client) }.start()
        }
    }

    /// Copies bytes until either side closes, then shuts both down.
    private static func copy(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        outer: while true {
            let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            var sent = 0
            while sent < n {
                let m = buffer.withUnsafeBytes { write(destination, $0.baseAddress! + sent, n - sent) }
                if m < 0 && errno == EINTR { continue }
                guard m > 0 else { break outer }
                sent += m
            }
        }
        shutdown(source, Int32(SHUT_RDWR))
        shutdown(destination, Int32(SHUT_RDWR))
        close(source)
    }
}
