/* The status page (watch/status.html), built into the program as one
 * NUL-terminated string: watch_status_html (monitor.c serves it). */
	.section .rodata
	.global watch_status_html
	.type watch_status_html, @object
	.balign 16
watch_status_html:
	.incbin "watch/status.html"
	.byte 0
	.size watch_status_html, . - watch_status_html
	.section .note.GNU-stack, "", @progbits
