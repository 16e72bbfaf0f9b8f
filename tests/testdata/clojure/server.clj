;; A slacker server in Clojure, for the Go client's tests: it serializes
;; with Clojure's own EDN reader and printer and with nippy, as slacker's
;; server does. It listens on a free loopback port, prints the port, and
;; answers requests (protocol 5 and 6, content types clj and nippy) to:
;;   clj.test/echo        its first argument
;;   clj.test/args        its argument list
;;   clj.test/types       a map of Clojure values of many types
;;   clj.test/boom        an exception, answered as (str e)
;;   clj.test/boom-debug  an exception, answered as slacker's *debug* mode
;;                        does: {:msg .. :stacktrace [StackTraceElement ..]}
;; Any other name is answered not-found, in a response as slacker does.
(require '[taoensso.nippy :as nippy] '[clojure.edn :as edn])
(import '[java.net ServerSocket InetAddress Socket]
        '[java.io DataInputStream DataOutputStream ByteArrayInputStream ByteArrayOutputStream DataInput DataOutput])

;; StackTraceElements travel as the custom type :slacker/exception.
(nippy/extend-freeze StackTraceElement :slacker/exception
  [^StackTraceElement s ^DataOutput out]
  (.writeUTF out (.getClassName s))
  (.writeUTF out (.getMethodName s))
  (.writeUTF out (str (.getFileName s)))
  (.writeInt out (.getLineNumber s)))

(defn serialize ^bytes [ct v]
  (case (int ct)
    2 (.getBytes ^String (pr-str v) "UTF-8")
    3 (let [bos (ByteArrayOutputStream.)]
        (nippy/freeze-to-out! (DataOutputStream. bos) v)
        (.toByteArray bos))))

(defn deserialize [ct ^bytes b]
  (case (int ct)
    2 (edn/read-string (String. b "UTF-8"))
    3 (nippy/thaw-from-in! (DataInputStream. (ByteArrayInputStream. b)))))

(def types
  {:keyword :ok
   :ns-keyword :a.b/c
   :symbol 'sym
   :set #{1}
   :list '(1 2)
   :vector [1 "two" 3.5 nil true]
   :char \x
   :ratio 1/4
   :bigint 18446744073709551615N
   :small-bigint 7N
   :bigdec 2.5M
   :uuid #uuid "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
   :inst #inst "2024-01-02T03:04:05.678-00:00"
   :nils {:m nil}
   :empty-map {}
   :empty-vector []
   :string "é\n\"q\""
   :long 9223372036854775807
   :negative -7
   :double 0.1
   :zero 0.0
   "string key" 1
   42 "integer key"})

(defn call [fname args]
  (case fname
    "clj.test/echo" [0 (first args)]
    "clj.test/args" [0 args]
    "clj.test/types" [0 types]
    "clj.test/boom" [12 (str (Exception. "boom"))]
    "clj.test/boom-debug" (let [e (Exception. "boom")]
                            [12 {:msg (.getMessage e) :stacktrace (.getStackTrace e)}])
    [11 nil]))

(defn serve [^Socket sock]
  (with-open [sock sock]
    (let [in (DataInputStream. (.getInputStream sock))
          out (DataOutputStream. (.getOutputStream sock))]
      (loop []
        (let [version (.readByte in)
              tid (.readInt in)
              type (.readByte in)]
          (case (int type)
            0 (let [ct (.readByte in)
                    fname (let [b (byte-array (.readUnsignedShort in))] (.readFully in b) (String. b "UTF-8"))
                    body (let [b (byte-array (.readInt in))] (.readFully in b) b)
                    exts (when (= version 6)
                           (vec (for [_ (range (.readUnsignedByte in))]
                                  (let [id (.readShort in)
                                        b (byte-array (.readUnsignedShort in))]
                                    (.readFully in b)
                                    [id b]))))
                    args (when (pos? (alength ^bytes body)) (deserialize ct body))
                    [code result] (call fname args)
                    rb (if (nil? result) (byte-array 0) (serialize ct result))]
                (.writeByte out version)
                (.writeInt out tid)
                (.writeByte out 1)
                (.writeByte out ct)
                (.writeByte out code)
                (.writeInt out (alength rb))
                (.write out rb)
                (when (= version 6)
                  (.writeByte out (count exts))
                  (doseq [[id b] exts]
                    (.writeShort out id)
                    (.writeShort out (alength ^bytes b))
                    (.write out ^bytes b))))
            2 (do (.writeByte out version) (.writeInt out tid) (.writeByte out 3))
            10 (do (dotimes [_ 2] (.skipBytes in (.readUnsignedShort in)))
                   (let [v (.getBytes "0.17.0" "UTF-8")]
                     (.writeByte out version) (.writeInt out tid) (.writeByte out 11)
                     (.writeShort out (alength v)) (.write out v))))
          (.flush out)
          (recur))))))

(let [ss (ServerSocket. 0 50 (InetAddress/getByName "127.0.0.1"))]
  (println (.getLocalPort ss))
  (flush)
  (loop []
    (let [sock (.accept ss)]
      (future (try (serve sock) (catch java.io.EOFException _))))
    (recur)))
