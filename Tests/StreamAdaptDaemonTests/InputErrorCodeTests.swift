import Foundation
import StreamAdaptCore
import Testing

@testable import StreamAdaptDaemon

/// The dead-letter reasons published in docs/schemas/dead-letter-headers.schema.json are exactly the
/// decoder's codes (which include the output side's `output-too-large`), in the same order.
@Suite struct InputErrorCodeTests {
    @Test func schemaReasonsAreExactlyTheCodes() throws {
        let data = try Data(contentsOf: SchemaValidator.schemaURL("dead-letter-headers"))
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let defs = try #require(schema["$defs"] as? [String: Any])
        let reasons = try #require((defs["reason"] as? [String: Any])?["enum"] as? [String])
        #expect(reasons == InputError.Code.allCases.map(\.rawValue))
        // The output side's codes are among them.
        for code in OutputError.Code.allCases { #expect(reasons.contains(code.rawValue)) }
    }

    @Test func codesAreStableKebabCase() {
        for code in InputError.Code.allCases {
            #expect(code.rawValue.allSatisfy { $0 == "-" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }, "\(code)")
        }
        #expect(InputError.Code(rawValue: "invalid-utf8") == .invalidUTF8)
        #expect(InputError.Code.allCases.count == 28)
    }

    /// A refused control record is dead-lettered with the core's class-change code: each one is a
    /// dead-letter reason.
    @Test func everyClassChangeCodeIsADeadLetterReason() {
        for code in ClassChangeError.Code.allCases { #expect(InputError.Code(rawValue: code.rawValue) != nil, "\(code)") }
    }
}
