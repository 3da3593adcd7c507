import Testing

@testable import StreamAdaptDaemon

/// Dead letters: what is kept within the output budget (the pure plan and the built record), and the
/// daemon's own headers.
@Suite struct DeadLetterTests {
    static let budget = OutputBudget(messageMaxBytes: 8192)  // limit 7680
    static let own = 300

    static func letter(
        key: [UInt8] = Array("k-1".utf8), value: Int = 100, headers: [(String, [UInt8])] = [],
        reason: String = "unparseable", error: String = "not JSON at byte 0", budget: OutputBudget = budget
    ) -> DeadLetter {
        key.withUnsafeBytes {
            DeadLetter(
                key: $0, valueBytes: value, headers: headers, sourceTopic: "embeddings", partition: 2, offset: 41,
                reason: reason, error: error, budget: budget)
        }
    }

    static func header(_ letter: DeadLetter, _ name: String) -> String? {
        letter.headers.last { $0.0 == name }.map { String(decoding: $0.1, as: UTF8.self) }
    }

    /// The size a producer is asked to send (what librdkafka checks, less its framing).
    static func size(_ letter: DeadLetter, value: Int) -> Int {
        OutputBudget.recordBytes(key: letter.key.count, value: letter.keepsValue ? value : 0, headers: OutputBudget.headerBytes(letter.headers))
    }

    // MARK: - The plan (sizes only)

    @Test func everythingKeptWhenItFits() {
        let plan = DeadLetter.plan(key: 10, value: 5000, headers: [(4, 100), (3, 7)], ownHeaders: Self.own, budget: Self.budget)
        #expect(plan == DeadLetter.Plan(keepsValue: true, key: 10, headerValues: [100, 7]))
    }

    @Test func valueDroppedFirst() {
        let plan = DeadLetter.plan(key: 10, value: 7_500, headers: [(4, 100)], ownHeaders: Self.own, budget: Self.budget)
        #expect(plan == DeadLetter.Plan(keepsValue: false, key: 10, headerValues: [100]))
    }

    /// Room for key and values = limit - own - marker - header names; the key and the large header get
    /// one common length, the small header and the small value are kept whole.
    @Test func keyAndLongHeaderValuesCutToACommonLength() {
        let marker = 21 + 1024 + 10
        let room = Self.budget.limit - Self.own - marker - (1 + 10) - (2 + 10)
        let plan = DeadLetter.plan(
            key: 1_100_000, value: 50, headers: [(1, 40), (2, 1_100_000)], ownHeaders: Self.own, budget: Self.budget)
        let cap = (room - 40 - 50) / 2
        #expect(plan == DeadLetter.Plan(keepsValue: true, key: cap, headerValues: [40, cap]))
    }

    /// A value longer than the common length is dropped, and the length found again without it.
    @Test func aLongValueIsDroppedWhenTheKeyMustBeCut() {
        let notes = (25 + 256 + 10) + (21 + 1024 + 10)
        let room = Self.budget.limit - Self.own - notes - (1 + 10)
        let plan = DeadLetter.plan(key: 1_100_000, value: 5_000, headers: [(1, 40)], ownHeaders: Self.own, budget: Self.budget)
        #expect(plan == DeadLetter.Plan(keepsValue: false, key: room - 40, headerValues: [40]))
        #expect(DeadLetter.commonLength([5, 100, 100], room: 105) == 50)
        #expect(DeadLetter.commonLength([5, 100, 100], room: 205) == Int.max)
        #expect(DeadLetter.commonLength([5, 100, 100], room: 0) == 0)
    }

    @Test func onlyTheOversizedItemIsCut() {
        let plan = DeadLetter.plan(key: 1_100_000, value: 0, headers: [(1, 40)], ownHeaders: Self.own, budget: Self.budget)
        let marker = 21 + 1024 + 10
        #expect(plan == DeadLetter.Plan(keepsValue: true, key: Self.budget.limit - Self.own - marker - 11 - 40, headerValues: [40]))
    }

    @Test func headersWhoseNamesCannotFitAreDroppedLongestFirst() {
        let plan = DeadLetter.plan(
            key: 5, value: 10, headers: [(3, 1), (1_100_000, 2), (4, 3), (9_000, 0)], ownHeaders: Self.own, budget: Self.budget)
        #expect(plan == DeadLetter.Plan(keepsValue: true, key: 5, headerValues: [1, nil, 3, nil]))
    }

    /// Many small headers: names alone exceed the room; the longest go first, ties from the end.
    @Test func manyHeadersAreDroppedUntilTheRestFit() {
        let headers = Array(repeating: (name: 10, value: 10), count: 1000)
        let plan = DeadLetter.plan(key: 0, value: 0, headers: headers, ownHeaders: Self.own, budget: Self.budget)
        let keptCount = plan.headerValues.prefix { $0 != nil }.count
        #expect(plan.headerValues[keptCount...].allSatisfy { $0 == nil })
        let notes = (25 + 256 + 10) + (21 + 1024 + 10)
        let room = Self.budget.limit - Self.own - notes
        #expect(keptCount == room / 20)
        // The rest of the room (and the unused room of the value note: the empty value stays) is shared
        // by the kept values: (6034 - 301 * 20 + 291) / 301 = 1 byte each.
        #expect(room == 6034 && keptCount == 301)
        #expect(plan.keepsValue && plan.headerValues.compactMap { $0 }.allSatisfy { $0 == 1 })
    }

    // MARK: - Built records

    @Test func ownHeadersReplaceIncomingOnesAndComeLast() {
        let letter = Self.letter(headers: [("trace", Array("t1".utf8)), ("streamadapt-reason", Array("fake".utf8))])
        #expect(letter.headers.map(\.0) == [
            "trace", "streamadapt-reason", "streamadapt-error", "streamadapt-source-topic", "streamadapt-source-partition",
            "streamadapt-source-offset",
        ])
        #expect(Self.header(letter, "trace") == "t1")
        #expect(Self.header(letter, "streamadapt-reason") == "unparseable")
        #expect(Self.header(letter, "streamadapt-error") == "not JSON at byte 0")
        #expect(Self.header(letter, "streamadapt-source-topic") == "embeddings")
        #expect(Self.header(letter, "streamadapt-source-partition") == "2")
        #expect(Self.header(letter, "streamadapt-source-offset") == "41")
        #expect(letter.keepsValue && letter.key == Array("k-1".utf8))
        #expect(letter.withKey { $0?.count } == 3)
        #expect(Self.letter(key: []).withKey { $0 == nil })
    }

    /// The issue's cases: a 1.1 MB key, a 1.1 MB header, a 1.1 MB value: the dead letter fits the default budget.
    @Test func oversizedKeyHeaderAndValueFitTheDefaultBudget() {
        let budget = OutputBudget()
        let big = Array(repeating: UInt8(ascii: "k"), count: 1_100_000)
        let letter = Self.letter(key: big, value: 1_100_000, headers: [("small", [1, 2]), ("big", big)], budget: budget)
        #expect(Self.size(letter, value: 1_100_000) <= budget.limit)
        #expect(!letter.keepsValue)
        #expect(Self.header(letter, "streamadapt-truncated") == "key,header:big")
        #expect(Self.header(letter, "streamadapt-value-dropped")!.hasPrefix("value of 1100000 bytes dropped"))
        #expect(letter.headers.first { $0.0 == "small" }!.1 == [1, 2])
        let keptHeader = letter.headers.first { $0.0 == "big" }!.1
        #expect(letter.key.count == keptHeader.count && letter.key.count > 400_000)
        #expect(letter.key == Array(big.prefix(letter.key.count)))
        #expect(Self.header(letter, "streamadapt-reason") == "unparseable")

        let valueOnly = Self.letter(value: 1_100_000, budget: budget)
        #expect(!valueOnly.keepsValue && valueOnly.key == Array("k-1".utf8))
        #expect(Self.header(valueOnly, "streamadapt-truncated") == nil)
    }

    @Test func droppedHeadersAreNamedInTheMarker() {
        let name = String(repeating: "n", count: 100_000)
        let letter = Self.letter(headers: [(name, [1]), ("keep", [2])])
        #expect(Self.header(letter, "streamadapt-truncated") == "dropped-header:" + String(repeating: "n", count: 61) + "...")
        #expect(letter.headers.map(\.0).contains("keep") && !letter.headers.map(\.0).contains(name))
    }

    /// Whatever the sizes, the record fits and carries the daemon's five headers.
    @Test func randomSizesAlwaysFit() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let sizes = [0, 1, 100, 5_000, 8_000, 50_000]
            let key = Array(repeating: UInt8(7), count: sizes.randomElement(using: &generator)!)
            let value = sizes.randomElement(using: &generator)!
            let headers = (0..<Int.random(in: 0...12, using: &generator)).map { i in
                (String(repeating: "h", count: [1, 20, 3_000, 9_000].randomElement(using: &generator)!) + "\(i)",
                 Array(repeating: UInt8(1), count: sizes.randomElement(using: &generator)!))
            }
            let letter = Self.letter(key: key, value: value, headers: headers)
            #expect(Self.size(letter, value: value) <= Self.budget.limit)
            for name in ["streamadapt-reason", "streamadapt-error", "streamadapt-source-topic", "streamadapt-source-partition", "streamadapt-source-offset"] {
                #expect(Self.header(letter, name) != nil)
            }
            let forwarded = letter.headers.filter { !$0.0.hasPrefix("streamadapt-") }
            let cut = letter.key.count < key.count || forwarded.count < headers.count
                || zip(headers, forwarded).contains { $0.1.count != $1.1.count }
            #expect((Self.header(letter, "streamadapt-truncated") != nil) == cut)
        }
    }

    /// The daemon's own headers at their longest, with both notes, leave room in the smallest budget
    /// accepted (message.max.bytes 8192).
    @Test func worstCaseOwnHeadersFitTheSmallestBudget() {
        let budget = OutputBudget(messageMaxBytes: OutputBudget.minimumMessageMaxBytes)
        let big = Array(repeating: UInt8(9), count: 1_100_000)
        let letter = big.withUnsafeBytes {
            DeadLetter(
                key: $0, valueBytes: 1_100_000, headers: [("h", big), (String(repeating: "n", count: 20_000), big)],
                sourceTopic: String(repeating: "t", count: 300), partition: .max, offset: .max,
                reason: String(repeating: "r", count: 500), error: String(repeating: "\u{0}", count: 5_000), budget: budget)
        }
        #expect(Self.size(letter, value: 1_100_000) <= budget.limit)
        let own = letter.headers.filter { $0.0.hasPrefix("streamadapt-") }
        #expect(own.count == 7)
        #expect(OutputBudget.headerBytes(own) <= 2_882)
        #expect(letter.key.count > 1_000 && letter.headers.first { $0.0 == "h" }!.1.count == letter.key.count)
    }

    // MARK: - Header texts

    @Test func errorTextsCarryNoControlCharacters() {
        let letter = Self.letter(error: "bad byte \u{0} at 3,\nthen \u{1F}\u{7F}\u{85} and \\u41 é")
        #expect(Self.header(letter, "streamadapt-error") == #"bad byte \u0000 at 3,\u000athen \u001f\u007f\u0085 and \u41 é"#)
        #expect(!letter.headers.flatMap(\.1).contains { $0 < 0x20 || $0 == 0x7F })
    }

    @Test func longTextsAreCutOnACharacterBoundary() {
        let text = String(repeating: "é", count: 2000)  // 2 bytes each
        let cut = DeadLetter.headerText(text, maximumBytes: 1024)
        #expect(cut.count == 1023)
        #expect(String(validating: cut, as: UTF8.self) == String(repeating: "é", count: 510) + "...")
        #expect(DeadLetter.headerText("\u{0}\u{0}", maximumBytes: 12) == Array(#"\u0000\u0000"#.utf8))
        #expect(DeadLetter.headerText("\u{0}\u{0}", maximumBytes: 11) == Array(#"\u0000..."#.utf8))
        #expect(DeadLetter.headerText("abc", maximumBytes: 3) == Array("abc".utf8))
        #expect(DeadLetter.headerText("abcd", maximumBytes: 3) == Array("...".utf8))
        let letter = Self.letter(error: String(repeating: "x", count: 5000))
        #expect(Self.header(letter, "streamadapt-error") == String(repeating: "x", count: 1021) + "...")
    }
}
