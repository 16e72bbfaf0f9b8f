;; The golden vectors of the nippy codec, from nippy itself.
;;
;; With the argument "gen" this prints vectors.json: for each Clojure value
;; of a table, its name, the bytes nippy freezes it to (freeze-to-out!, as
;; slacker does, or freeze with its header), the Go value the codec must
;; decode it to, in the notation below, and its EDN for people to read.
;;
;; With the argument "check" it reads lines "name<tab>hex" from standard
;; input, thaws each hex and prints "name<tab>notation" of the Clojure value, with the
;; Clojure types told apart (see strict): the test so checks that what the
;; codec writes thaws to the values it means.
;;
;; The notation of a Go value, in Go and here alike:
;;   n t f                nil, true, false
;;   i<decimal>           int64          u<decimal>   uint64
;;   d<16 hex digits>     float64, its bits
;;   s<hex>               string, its UTF-8 bytes
;;   b<hex>               []byte
;;   [a,b,...]            []any
;;   {k:v,...}            map[string]any, sorted by the keys' notation
;;   {*k:v,...}           map[any]any, so sorted
(require '[taoensso.nippy :as nippy]
         '[clojure.string :as str])
(import '[java.io ByteArrayOutputStream DataOutputStream ByteArrayInputStream DataInputStream DataOutput DataInput])

;; slacker's custom type, as slacker.serialization.nippy registers it.
(nippy/extend-freeze StackTraceElement :slacker/exception
  [^StackTraceElement s ^DataOutput out]
  (.writeUTF out (.getClassName s))
  (.writeUTF out (.getMethodName s))
  (.writeUTF out (.getFileName s))
  (.writeInt out (.getLineNumber s)))
(nippy/extend-thaw :slacker/exception [^DataInput in]
  (StackTraceElement. (.readUTF in) (.readUTF in) (.readUTF in) (.readInt in)))

(defrecord Rec [a])

(defn hex [^bytes b] (apply str (map #(format "%02x" (bit-and % 0xff)) b)))
(defn unhex [^String s]
  (byte-array (map #(unchecked-byte (Integer/parseInt (apply str %) 16)) (partition 2 s))))
(defn utf8hex [^String s] (hex (.getBytes s "UTF-8")))

(defn freeze-bare [x]
  (let [bos (ByteArrayOutputStream.)]
    (nippy/freeze-to-out! (DataOutputStream. bos) x)
    (.toByteArray bos)))

(def max-u64 18446744073709551615N)

(defn go-string
  "The Go string a value decodes to, or nil for a value that is not one."
  [x]
  (cond
    (string? x) x
    (keyword? x) (subs (str x) 1)
    (symbol? x) (str x)
    (char? x) (if (Character/isSurrogate x) "\ufffd" (str x))
    (instance? java.util.Date x)
    (.format (doto (java.text.SimpleDateFormat. "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")
               (.setTimeZone (java.util.TimeZone/getTimeZone "UTC")))
             ^java.util.Date x)
    (uuid? x) (str x)
    (instance? StackTraceElement x) (str x)))

(defn fail [& msg] (throw (ex-info (apply str msg) {})))

(defn render
  "The notation of the Go value the codec decodes x to."
  [x]
  (let [s (go-string x)]
    (cond
      (nil? x) "n"
      (true? x) "t"
      (false? x) "f"
      s (str "s" (utf8hex s))
      (or (instance? Long x) (instance? Integer x) (instance? Short x) (instance? Byte x)) (str "i" x)
      (or (instance? clojure.lang.BigInt x) (instance? BigInteger x))
      (let [n (bigint x)]
        (cond (<= Long/MIN_VALUE n Long/MAX_VALUE) (str "i" n)
              (<= 0 n max-u64) (str "u" n)
              :else (fail "integer beyond uint64")))
      (or (double? x) (float? x) (decimal? x) (ratio? x))
      (let [d (if (ratio? x)
                (.doubleValue (.divide (BigDecimal. (.numerator ^clojure.lang.Ratio x))
                                       (BigDecimal. (.denominator ^clojure.lang.Ratio x))
                                       (java.math.MathContext. 60)))
                (double x))]
        (when (and (Double/isInfinite d) (not (double? x)) (not (float? x)))
          (fail "beyond float64"))
        ;; nippy writes a double zero, -0.0 too, as its own id
        (format "d%016x" (if (and (double? x) (zero? d)) 0 (Double/doubleToRawLongBits d))))
      (bytes? x) (str "b" (hex x))
      (record? x) (fail "record")
      (map? x)
      (let [entries (map (fn [[k v]]
                           (when (or (coll? k) (bytes? k)) (fail "collection key"))
                           [(render k) (render v)])
                         x)
            keys (map first entries)]
        (when (not= (count keys) (count (set keys))) (fail "duplicate key"))
        (str (if (every? #(str/starts-with? % "s") keys) "{" "{*")
             (str/join "," (map (fn [[k v]] (str k ":" v)) (sort-by first entries)))
             "}"))
      (or (sequential? x) (set? x) (instance? clojure.lang.PersistentQueue x)
          (instance? (Class/forName "[Ljava.lang.Object;") x))
      (str "[" (str/join "," (map render x)) "]")
      :else (fail "type " (type x)))))

(defn strict
  "The notation of a Clojure value, telling apart the types the codec
  writes: K<hex> a keyword, N<decimal> a BigInt; any other type is ?."
  [x]
  (cond
    (nil? x) "n"
    (true? x) "t"
    (false? x) "f"
    (instance? Long x) (str "i" x)
    (instance? clojure.lang.BigInt x) (str "N" x)
    (double? x) (format "d%016x" (Double/doubleToRawLongBits x))
    (string? x) (str "s" (utf8hex x))
    (keyword? x) (str "K" (utf8hex (subs (str x) 1)))
    (bytes? x) (str "b" (hex x))
    (vector? x) (str "[" (str/join "," (map strict x)) "]")
    (map? x) (str "{" (str/join "," (map (fn [[k v]] (str k ":" v))
                                         (sort-by first (map (fn [[k v]] [(strict k) (strict v)]) x))))
                  "}")
    :else (str "?" (.getName (class x)))))

(defn json-str [^String s]
  (str "\""
       (apply str (map (fn [c]
                         (let [i (int c)]
                           (cond (= c \") "\\\"" (= c \\) "\\\\"
                                 (or (< i 32) (> i 126)) (format "\\u%04x" i)
                                 :else c)))
                       s))
       "\""))

(defn sha256 [^String s]
  (hex (.digest (java.security.MessageDigest/getInstance "SHA-256") (.getBytes s "UTF-8"))))

(defn x-string [n] (apply str (repeat n "x")))
(defn ste [c m f l] (StackTraceElement. c m f l))

(def values
  [["nil" nil] ["true" true] ["false" false]
   ;; longs at every width boundary
   ["long 0" 0] ["long 1" 1] ["long -1" -1] ["long 127" 127] ["long 128" 128]
   ["long -128" -128] ["long -129" -129] ["long 32767" 32767] ["long 32768" 32768]
   ["long -32768" -32768] ["long -32769" -32769] ["long 2147483647" 2147483647]
   ["long 2147483648" 2147483648] ["long -2147483648" -2147483648]
   ["long -2147483649" -2147483649] ["long max" Long/MAX_VALUE] ["long min" Long/MIN_VALUE]
   ["byte" (byte -5)] ["short" (short 300)] ["integer" (int -70000)]
   ["bigint 1" 1N] ["bigint -1" -1N] ["bigint long max" 9223372036854775807N]
   ["bigint long min" -9223372036854775808N] ["bigint 2^63" 9223372036854775808N]
   ["bigint uint64 max" max-u64] ["bigint 2^64" 18446744073709551616N]
   ["bigint below long min" -9223372036854775809N]
   ["biginteger 42" (biginteger 42)] ["biginteger uint64 max" (biginteger max-u64)]
   ["biginteger -300" (biginteger -300)]
   ;; floats
   ["float 1.5" (float 1.5)] ["float 0.1" (float 0.1)] ["double 0" 0.0] ["double -0" -0.0]
   ["double 1.5" 1.5] ["double -2.25" -2.25] ["double 1e300" 1e300]
   ["double min" Double/MIN_VALUE] ["double inf" ##Inf] ["double -inf" ##-Inf] ["double nan" ##NaN]
   ["bigdec 1.5" 1.5M] ["bigdec 0.1" 0.1M] ["bigdec -123.456" -123.456M] ["bigdec 1E+3" 1E+3M]
   ["bigdec 1E-400" 1E-400M] ["bigdec 1E+400" 1E+400M]
   ["bigdec long digits" 3.14159265358979323846264338327950288419716939937510M]
   ["ratio 1/3" 1/3] ["ratio -7/2" -7/2] ["ratio 22/7" 22/7]
   ["ratio huge" (/ (bigint (.pow (biginteger 10) 400)) 3)]
   ;; strings at every size class
   ["str 0" ""] ["str 1" "x"] ["str 127" (x-string 127)] ["str 128" (x-string 128)]
   ["str 255" (x-string 255)] ["str 256" (x-string 256)] ["str 32767" (x-string 32767)]
   ["str 32768" (x-string 32768)] ["str 65535" (x-string 65535)] ["str 65536" (x-string 65536)]
   ["str unicode" "h\u00e9llo \u2603 \ud83d\ude00"] ["str nul" "a\u0000b"]
   ["keyword" :a] ["keyword ns" :ns/name] ["keyword 128" (keyword (x-string 128))]
   ["symbol" 'sym] ["symbol ns" 'ns/sym]
   ["char a" \a] ["char e-acute" \u00e9] ["char snowman" \u2603] ["char lone surrogate" (char 0xd800)]
   ;; byte arrays
   ["bytes 0" (byte-array 0)] ["bytes 3" (byte-array [1 -2 127])] ["bytes 128" (byte-array 128)]
   ["bytes 32768" (byte-array 32768)]
   ;; collections at every size class
   ["vec 0" []] ["vec 1" [1]] ["vec 2" [1 "a"]] ["vec 3" [1 2 3]] ["vec 4" [1 2 3 4]]
   ["vec 127" (vec (range 127))] ["vec 128" (vec (range 128))] ["vec 32768" (vec (repeat 32768 nil))]
   ["list 0" ()] ["list" (list 1 2)] ["list 200" (apply list (range 200))]
   ["list with meta" '(1 2 3)] ["vec with meta" (with-meta [1 2] {:tag "x"})]
   ["seq" (seq [1 2 3])] ["lazy seq" (map inc [1 2 3])] ["lazy seq 0" (lazy-seq nil)]
   ["lazy seq 200" (map identity (range 200))]
   ["set 0" #{}] ["set" #{1 2 3}] ["set 200" (set (range 200))]
   ["sorted set" (sorted-set 3 1 2)] ["queue" (conj clojure.lang.PersistentQueue/EMPTY 1 2)]
   ["object array" (object-array [1 "a" nil])]
   ["map 0" {}] ["map keyword" {:a 1}] ["map string keyword" {"a" 1 :b 2}]
   ["map keyword and string" {:a 1 "a" 2}] ["map symbol keys" {'x 1 'y/z 2}]
   ["map int keys" {1 "one" 2 "two"}] ["map mixed keys" {nil 1 true 2 1.5 3 "s" 4 :k 5}]
   ["map vector key" {[1] 2}] ["map bytes key" {(byte-array 1) 2}]
   ["map 200" (into {} (map (fn [i] [(keyword (str "k" i)) i]) (range 200)))]
   ["sorted map" (sorted-map :b 1 :a 2)]
   ["nested" {:a [1 {:b #{"x"}}] :c nil :d {"e" [[] {}]}}]
   ;; the others
   ["date" (java.util.Date. 1704164645678)] ["date 0" (java.util.Date. 0)] ["date -1" (java.util.Date. -1)]
   ["uuid" #uuid "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"]
   ["exception" (ste "a.B" "m" "B.java" 12)] ["exception no line" (ste "a.B" "m" "B.java" -1)]
   ["exception native" (ste "a.B" "m" "B.java" -2)]
   ["exception unicode" (ste "\u00fc.K" "m\ud83d\ude00\u0000" "\u00dc.java" 7)]
   ["uri" (java.net.URI. "http://x/")] ["regex" #"a+"] ["record" (->Rec 1)]
   ["instant" (java.time.Instant/ofEpochSecond 1)]])

(def headed
  [["header plain" [1 2 3] {:compressor nil}]
   ["header auto small" {:a "b"} {}]
   ["header lz4 string" (apply str (repeat 5000 "ab")) {}]
   ["header lz4 map" {:a (vec (range 3000)) :b (x-string 9000)} {}]
   ["header lz4 forced" [1 2 3] {:compressor nippy/lz4-compressor}]
   ["header snappy" (x-string 100) {:compressor nippy/snappy-compressor}]
   ["header lzma2" (x-string 100) {:compressor nippy/lzma2-compressor}]
   ["header encrypted" [1 2] {:password [:salted "p"]}]])

(defn expect [x]
  (try
    (let [r (render x)]
      (if (> (count r) 1000) (str "sha256:" (sha256 r)) r))
    (catch clojure.lang.ExceptionInfo e (str "error: " (.getMessage e)))))

(defn edn [x]
  (let [s (try (binding [*print-length* 8] (pr-str x)) (catch Exception _ (str (type x))))]
    (if (> (count s) 120) (str (subs s 0 120) "...") s)))

(defn entry [name ^bytes b x expected]
  (str "{\"name\": " (json-str name) ", \"hex\": " (json-str (hex b))
       ", \"expect\": " (json-str expected) ", \"edn\": " (json-str (edn x)) "}"))

(defn gen []
  (let [entries (concat
                  (for [[name x] values] (entry name (freeze-bare x) x (expect x)))
                  (for [[name x opts] headed]
                    (let [b (nippy/freeze x opts)]
                      (entry name b x (if (#{0 8} (long (aget b 3))) (expect x) "error: header")))))]
    (println "[")
    (println (str/join ",\n" entries))
    (println "]")))

(defn check []
  (doseq [line (line-seq (java.io.BufferedReader. *in*))
          :when (not (str/blank? line))]
    (let [[name h] (str/split line #"\t")
          out (try (strict (nippy/thaw-from-in! (DataInputStream. (ByteArrayInputStream. (unhex h)))))
                   (catch Exception e (str "error: " (.getMessage e))))]
      (println (str name "\t" out)))))

(case (first *command-line-args*)
  "gen" (gen)
  "check" (check))
