;; A slacker caller in Clojure: it sends each call of its standard input,
;; one per line, to the server named by its argument (host:port), over one
;; connection, and prints each answer on a line of its own.
;;
;; An input line has tab-separated fields:
;;   content type  clj or nippy
;;   version       5 or 6
;;   function      namespace/function
;;   arguments     Clojure text of the argument vector, read with
;;                 read-string; empty for an empty body
;;   framing       for nippy: stream (freeze-to-out!, as slacker's client
;;                 writes) or header (freeze: header, LZ4 over 8 KiB)
;;   deadline      milliseconds from now, sent in the deadline extension;
;;                 empty for none
;; An output line is the pr-str of [tid code result] for a response (the
;; result read with clojure.edn/read-string or nippy's thaw-from-in!, as
;; slacker's client reads it), or [tid :error code] for an error packet.
(require '[taoensso.nippy :as nippy] '[clojure.edn :as edn] '[clojure.string :as str])
(import '[java.net Socket]
        '[java.io DataInputStream DataOutputStream ByteArrayInputStream ByteArrayOutputStream BufferedReader])

(def content-types {"clj" 2 "nippy" 3})
(def codes {0 :success 11 :not-found 12 :exception 13 :thread-pool-full 14 :canceled
            20 :protocol-mismatch 21 :invalid-packet 22 :acl-reject})

(defn serialize [ct framing v]
  (case ct
    "clj" (.getBytes ^String (pr-str v) "UTF-8")
    "nippy" (if (= framing "header")
              (nippy/freeze v)
              (let [bos (ByteArrayOutputStream.)]
                (nippy/freeze-to-out! (DataOutputStream. bos) v)
                (.toByteArray bos)))))

(defn deserialize [ct ^bytes b]
  (case ct
    "clj" (edn/read-string (String. b "UTF-8"))
    "nippy" (nippy/thaw-from-in! (DataInputStream. (ByteArrayInputStream. b)))))

(defn write-request [^DataOutputStream out tid [ct version fname args framing deadline]]
  (let [v (Integer/parseInt version)
        body (if (str/blank? args) (byte-array 0) (serialize ct framing (read-string args)))
        fb (.getBytes ^String fname "UTF-8")]
    (.writeByte out v)
    (.writeInt out tid)
    (.writeByte out 0)
    (.writeByte out (int (content-types ct)))
    (.writeShort out (alength fb))
    (.write out fb)
    (.writeInt out (alength ^bytes body))
    (.write out ^bytes body)
    (when (= v 6)
      (if (str/blank? deadline)
        (.writeByte out 0)
        (let [^bytes eb (serialize ct "stream" (+ (System/currentTimeMillis) (Long/parseLong deadline)))]
          (.writeByte out 1)
          (.writeShort out -1)
          (.writeShort out (alength eb))
          (.write out eb))))
    (.flush out)))

(defn read-answer [^DataInputStream in ct]
  (let [version (.readByte in)
        tid (.readInt in)
        type (.readByte in)]
    (case (int type)
      1 (let [_ (.readByte in)
              code (.readUnsignedByte in)
              b (byte-array (.readInt in))]
          (.readFully in b)
          (when (= version 6)
            (dotimes [_ (.readUnsignedByte in)]
              (.readShort in)
              (.skipBytes in (.readUnsignedShort in))))
          [tid (codes code) (deserialize ct b)])
      4 [tid :error (codes (.readUnsignedByte in))])))

(let [[host port] (str/split (first *command-line-args*) #":")
      sock (Socket. ^String host (Integer/parseInt port))
      out (DataOutputStream. (.getOutputStream sock))
      in (DataInputStream. (.getInputStream sock))]
  (doseq [[tid line] (map-indexed vector (line-seq (BufferedReader. *in*)))]
    (let [fields (vec (take 6 (concat (str/split line #"\t" -1) (repeat ""))))]
      (write-request out tid fields)
      (println (pr-str (read-answer in (fields 0))))))
  (.close sock))
