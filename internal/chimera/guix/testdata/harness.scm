;; Stub harness for Ch-imera's Guix output (chimera-targets.md, section 5, checks 5 and 6).
;;
;;   guile --no-auto-compile -s harness.scm KNOWN CONFIG.scm...
;;
;; KNOWN is a file holding one list of the package specifications that exist (from the package
;; map).  For each CONFIG the harness:
;;   1. reads every top-level form without evaluating it and refuses anything but (use-modules
;;      (gnu)), (use-service-modules ...), (define %chimera-... ...) and one (operating-system ...);
;;   2. evaluates the operating-system form against stub records (macros that turn (field value)
;;      pairs into alists) and stub procedures: an identifier that is neither a stub nor an
;;      allowed Guix variable is an unbound-variable error, and specification->package refuses
;;      names outside KNOWN;
;;   3. checks that every service type used comes from a module named in use-service-modules and
;;      that the mandatory fields are present;
;;   4. prints a summary, one fact per line, between "file N" and "end", which the Go test
;;      compares with a golden file and with values computed from the Ch-obolo.
;; No Guix is needed: this is a check of structure and values, not of Guix's own types.

(use-modules (ice-9 match) (srfi srfi-1))

(define known-specs (call-with-input-file (cadr (command-line)) read))

(define (fail fmt . args)
  (apply format (current-error-port) (string-append "harness: " fmt "~%") args)
  (exit 1))

;; Records: (name (field value) ...) -> (name (field . value) ...).
(define-syntax define-record-stub
  (syntax-rules ()
    ((_ name)
     (define-syntax name
       (syntax-rules ()
         ((_ (field value) (... ...))
          (list 'name (cons 'field value) (... ...))))))))

(define-record-stub operating-system)
(define-record-stub bootloader-configuration)
(define-record-stub file-system)
(define-record-stub swap-space)
(define-record-stub user-account)
(define-record-stub user-group)
(define-record-stub locale-definition)
(define-record-stub postgresql-configuration)
(define-record-stub channel)

(define (field rec name)
  (match (assq name (cdr rec))
    ((_ . v) v)
    (#f #f)))

(define (require-string who v)
  (unless (string? v) (fail "~a: expected a string, got ~s" who v))
  v)

;; Procedures and variables of (gnu) that Ch-imera uses.
(define (keyboard-layout layout . variant)
  (require-string "keyboard-layout" layout)
  (cons* 'keyboard-layout layout variant))
(define (file-system-label s) (list 'label (require-string "file-system-label" s)))
(define (specification->package spec)
  (require-string "specification->package" spec)
  (unless (member spec known-specs)
    (fail "unknown package specification ~s" spec))
  (list 'package spec))
(define (file-append obj . parts) (cons* 'file-append obj parts))
(define (plain-file name content)
  (require-string "plain-file" name)
  (require-string "plain-file" content)
  (when (or (string-null? name) (string-index name #\/) (string-prefix? "." name))
    (fail "plain-file: invalid store name ~s" name))
  (list 'plain-file name content))
(define used-services '())
(define* (service type #:optional (config 'default))
  (set! used-services (cons type used-services))
  (list 'service type config))
(define (simple-service name type value)
  (set! used-services (cons type used-services))
  (list 'simple-service name type value))
(define-syntax modify-services
  (syntax-rules (delete)
    ((_ base (delete type) ...)
     (begin
       (set! used-services (append (list type ...) used-services))
       (list (list 'modify-services base (list 'delete type) ...))))))
(define (make-channel-introduction commit fpr) (list 'introduction commit fpr))
(define (openpgp-fingerprint s) (list 'fingerprint s))

(define %base-packages (list '%base-packages))
(define %base-file-systems (list '%base-file-systems))
(define %base-user-accounts (list '%base-user-accounts))
(define %base-groups (list '%base-groups))
(define %base-services (list '%base-services))
(define %default-kernel-arguments (list '%default-kernel-arguments))
(define grub-bootloader 'grub-bootloader)
(define grub-efi-bootloader 'grub-efi-bootloader)

;; Service types and the module each comes from: an independent copy of the Guix sources' facts,
;; so that a wrong module in Ch-imera's table fails here.
(define service-modules
  '((avahi-service-type . avahi) (bluetooth-service-type . desktop)
    (containerd-service-type . docker) (cups-service-type . cups)
    (dbus-root-service-type . dbus) (dhcp-client-service-type . networking)
    (docker-service-type . docker) (elogind-service-type . desktop)
    (fail2ban-service-type . security) (gdm-service-type . xorg)
    (libvirt-service-type . virtualization) (lightdm-service-type . lightdm)
    (mcron-service-type . mcron) (mysql-service-type . databases)
    (network-manager-service-type . networking) (nftables-service-type . networking)
    (nginx-service-type . web) (ntp-service-type . networking)
    (openssh-service-type . ssh) (postgresql-service-type . databases)
    (redis-service-type . databases) (sddm-service-type . sddm)
    (thermald-service-type . pm) (tlp-service-type . pm) (tor-service-type . networking)
    (wpa-supplicant-service-type . networking)
    (etc-service-type . #f)))            ; (gnu services), part of (gnu)
(for-each (lambda (entry) (module-define! (current-module) (car entry) (car entry)))
          service-modules)
(define %desktop-services-marker (list '%desktop-services))
(define-syntax %desktop-services
  (identifier-syntax (begin (set! used-services (cons '%desktop-services used-services))
                            %desktop-services-marker)))

;; Printing.
(define (say . items)
  (for-each (lambda (x i) (unless (zero? i) (display " ")) (write x)) items (iota (length items)))
  (newline))

(define (strip-base lst marker)
  (filter (lambda (x) (not (eq? x marker))) lst))

(define (summarize os)
  (for-each (lambda (f) (unless (field os f) (fail "operating-system has no ~a" f)))
            '(host-name timezone bootloader file-systems))
  (say 'host-name (require-string "host-name" (field os 'host-name)))
  (say 'timezone (require-string "timezone" (field os 'timezone)))
  (when (field os 'locale) (say 'locale (field os 'locale)))
  (for-each (lambda (d)
              (say 'locale-definition (field d 'name) (field d 'source) (or (field d 'charset) "UTF-8")))
            (or (field os 'locale-definitions) '()))
  (when (field os 'keyboard-layout) (say 'keyboard (cdr (field os 'keyboard-layout))))
  (let ((b (field os 'bootloader)))
    (unless (eq? (car b) 'bootloader-configuration) (fail "bootloader is not a bootloader-configuration"))
    (say 'bootloader (field b 'bootloader) (field b 'targets) (or (field b 'timeout) 'default-timeout)
         (if (field b 'keyboard-layout) 'keyboard 'no-keyboard)))
  (when (field os 'kernel-arguments) (say 'kernel-arguments (field os 'kernel-arguments)))
  (let ((fss (field os 'file-systems)))
    (unless (memq '%base-file-systems fss) (fail "file-systems does not keep %base-file-systems"))
    (unless (find (lambda (fs) (and (pair? fs) (equal? (field fs 'mount-point) "/"))) fss)
      (fail "no root file system"))
    (for-each (lambda (fs)
                (say 'file-system (field fs 'mount-point) (cadr (field fs 'device)) (field fs 'type)))
              (strip-base fss '%base-file-systems)))
  (for-each (lambda (s) (say 'swap (cadr (field s 'target))))
            (or (field os 'swap-devices) '()))
  (for-each (lambda (g) (say 'group (field g 'name)))
            (strip-base (or (field os 'groups) '()) '%base-groups))
  (let ((users (or (field os 'users) %base-user-accounts)))
    (unless (memq '%base-user-accounts users) (fail "users does not keep %base-user-accounts"))
    (for-each (lambda (u)
                (say 'user (field u 'name) (field u 'group) (or (field u 'supplementary-groups) '())
                     (field u 'home-directory)
                     (match (field u 'shell)
                       (('file-append ('package spec) bin) (string-append spec ":" bin))
                       (#f 'default-shell))
                     (or (field u 'uid) 'auto) (if (field u 'system?) 'system 'normal)
                     (or (field u 'password) 'no-password)))
              (strip-base users '%base-user-accounts)))
  (let ((pkgs (field os 'packages)))
    (unless (memq '%base-packages pkgs) (fail "packages does not keep %base-packages"))
    (for-each (match-lambda
                (('package spec) (say 'package spec))
                ((('package spec) output) (say 'package (string-append spec ":" output)))
                (x (fail "unexpected package ~s" x)))
              (strip-base pkgs '%base-packages)))
  (when (field os 'hosts-file) (say 'hosts-file (caddr (field os 'hosts-file))))
  (when (field os 'issue) (say 'issue (field os 'issue)))
  (for-each (match-lambda
              (('service type config) (say 'service type))
              (('simple-service name 'etc-service-type entries)
               (for-each (match-lambda
                           ((file ('plain-file store-name content)) (say 'etc file store-name content)))
                         entries))
              (('modify-services base . deletes) (say 'base-services (car base) deletes))
              ('%desktop-services (say 'base-services '%desktop-services))
              ('%base-services (say 'base-services '%base-services))
              (x (fail "unexpected service ~s" x)))
            (field os 'services)))

(define (check-config file index)
  (define forms
    (call-with-input-file file
      (lambda (port)
        (set-port-encoding! port "UTF-8")
        (let loop ((acc '()))
          (let ((form (read port)))
            (if (eof-object? form) (reverse acc) (loop (cons form acc))))))))
  (define imported '())
  (define os-form #f)
  (set! used-services '())
  (for-each
   (match-lambda
     (('use-modules ('gnu)) #t)
     (('use-service-modules modules ...) (set! imported modules))
     ((and ('define (? symbol? name) _) form)
      (unless (string-prefix? "%chimera-" (symbol->string name))
        (fail "~a: unexpected definition of ~a" file name))
      (primitive-eval form))
     ((and ('operating-system _ ...) form)
      (when os-form (fail "~a: two operating-system forms" file))
      (set! os-form form))
     (form (fail "~a: unexpected top-level form ~s" file form)))
   forms)
  (unless os-form (fail "~a: no operating-system" file))
  (format #t "file ~a~%" index)
  (summarize (primitive-eval os-form))
  (for-each (lambda (type)
              (let ((module (if (eq? type '%desktop-services) 'desktop (assq-ref service-modules type))))
                (when (and module (not (memq module imported)))
                  (fail "~a: ~a needs (use-service-modules ~a)" file type module))))
            used-services)
  (say 'modules imported)
  (display "end\n"))

(set-port-encoding! (current-output-port) "UTF-8")
(let loop ((files (cddr (command-line))) (i 0))
  (unless (null? files)
    (check-config (car files) i)
    (loop (cdr files) (+ i 1))))
