# Key records for Mail::DKIM without DNS: the part of Net::DNS::Resolver that
# Mail::DKIM::DNS uses, answering TXT queries from a hash {name => value}
# (no trailing dot, lower case). Used by maildkim_driver.pl (the interop
# tests) and bench/peers/maildkim_worker.pl (the benchmark):
#   Mail::DKIM::DNS::resolver( RecordResolver->new( \%records ) );
package RecordResolver;
use strict;
use warnings;
use Net::DNS;

sub new { my ( $class, $records ) = @_; return bless { records => $records }, $class; }

sub send {
    my ( $self, $name, $type ) = @_;
    my $key = lc $name;
    $key =~ s/\.\z//;
    my $value = $self->{records}{$key};
    my $pkt   = Net::DNS::Packet->new( $name, $type // 'A', 'IN' );
    $pkt->header->qr(1);
    if ( uc( $type // '' ) eq 'TXT' && defined $value ) {
        my @chunks = $value eq '' ? ('') : unpack '(a255)*', $value;    # <= 255 per string
        $pkt->push( answer => Net::DNS::RR->new( name => $name, type => 'TXT', txtdata => \@chunks ) );
    }
    else {
        $pkt->header->rcode('NXDOMAIN');
    }
    return $pkt;
}
sub errorstring   { return 'NOERROR'; }
sub udppacketsize { return 1232; }

# Reads a whole file as bytes.
sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "cannot read $path: $!\n";
    local $/;
    my $data = <$fh>;
    return $data // '';
}

1;
